"""The canonical checkpoint file: safetensors of float32 tensors named as in ``spec.canonical``,
with metadata ``format=effnet-canonical``, ``spec_version``, ``model``, ``profile``, ``spec_hash``,
``include_top``. Reading checks names and shapes against the resolved spec."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from effnet.spec import ModelSpec, canonical

from .atomic import atomic_path
from .errors import WeightsError, mismatch_error

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


def read_canonical(path: str | os.PathLike[str]) -> CanonicalFile:
    """Read a canonical file without checking it against a model."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
        weights = load_file(str(path))
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err
    if metadata.get("format") != FORMAT_TAG:
        raise WeightsError(
            f"{path}: not a canonical effnet checkpoint (metadata format={metadata.get('format')!r})"
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
    return f.weights
