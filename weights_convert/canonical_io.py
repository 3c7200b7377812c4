"""The canonical checkpoint file: safetensors of float32 tensors named as in ``spec.canonical``,
with metadata ``format=effnet-canonical``, ``spec_version``, ``model``, ``profile``, ``spec_hash``,
``include_top``. Reading checks names and shapes against the resolved spec, and the metadata against
the model it is read as (``check_metadata``); every tensor is vetted (``tensors.check_numbers``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from effnet.spec import ModelSpec, canonical, profile_names

from . import safetensors_io
from .atomic import atomic_path
from .errors import WeightsError, mismatch_error
from .safetensors_io import save_file

FORMAT_TAG = "effnet-canonical"
Weights = dict[str, np.ndarray]


@dataclass(frozen=True)
class CanonicalFile:
    weights: Weights
    metadata: dict[str, str]


def check_state(ms: ModelSpec, weights: Weights, *, include_top: bool, what: str) -> None:
    expected = canonical.shapes(ms, include_top=include_top)
    mismatch_error(what, expected, {k: tuple(np.shape(v)) for k, v in weights.items()})


def save_canonical(
    path: str | os.PathLike[str], ms: ModelSpec, weights: Weights, *, include_top: bool = True
) -> None:
    check_state(ms, weights, include_top=include_top, what=f"canonical state for {ms.name}")
    metadata = {
        "format": FORMAT_TAG,
        "spec_version": ms.spec_version,
        "model": ms.name,
        "profile": ms.profile,
        "spec_hash": ms.spec_hash,
        "include_top": str(include_top).lower(),
    }
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def is_canonical(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a safetensors file tagged as canonical (its header only: cheap)."""
    return safetensors_io.metadata(path).get("format") == FORMAT_TAG


def read_canonical(path: str | os.PathLike[str]) -> CanonicalFile:
    """Read a canonical file without checking it against a model."""
    weights, metadata = safetensors_io.read(path)
    if metadata.get("format") != FORMAT_TAG:
        raise WeightsError(
            f"{path}: not a canonical effnet checkpoint (metadata format={metadata.get('format')!r})"
        )
    profile = metadata.get("profile")
    if profile is not None and profile not in profile_names():
        raise WeightsError(
            f"{path}: its metadata names profile {profile!r}, which the spec does not define "
            f"(known profiles: {', '.join(profile_names())})"
        )
    return CanonicalFile(weights, metadata)


def load_canonical(
    path: str | os.PathLike[str], ms: ModelSpec, *, include_top: bool | None = None
) -> Weights:
    """Read a canonical file and check every name and shape against ``ms``."""
    f = read_canonical(path)
    if include_top is None:
        include_top = f.metadata.get("include_top", "true") == "true"
    check_state(ms, f.weights, include_top=include_top, what=f"{path} (model {ms.name})")
    check_metadata(path, f, ms)
    return f.weights


def check_metadata(
    path: str | os.PathLike[str], f: CanonicalFile, ms: ModelSpec, *, same_spec: bool = True
) -> None:
    """Refuse a file whose metadata names another model than ``ms``, or, when ``ms`` is resolved as
    the file was written (its profile; ``same_spec``: no overrides), whose ``spec_hash`` is not the
    architecture's: weights written for a different architecture, or metadata edited by hand. A file
    without the classifier is not hash-checked (its hash depends on a class count it does not hold)."""
    model, recorded, profile = (f.metadata.get(k) for k in ("model", "spec_hash", "profile"))
    if model is not None and model != ms.name:
        raise WeightsError(f"{path}: holds weights of model {model} (its metadata says), not {ms.name}")
    if not same_spec or recorded is None or profile != ms.profile or "classifier.bias" not in f.weights:
        return
    if recorded != ms.spec_hash:
        version = f.metadata.get("spec_version")
        written = f"spec {version}; this is spec {ms.spec_version}" if version != ms.spec_version else ""
        raise WeightsError(
            f"{path}: its spec_hash {recorded[:12]}... is not the hash of {ms.name} as profile {profile!r} "
            f"resolves it ({ms.spec_hash[:12]}...): written for another architecture"
            + (f" ({written})" if written else "")
            + " or edited"
        )
