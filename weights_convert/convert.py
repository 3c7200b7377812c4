"""Load any supported checkpoint as canonical weights, save canonical weights as any format, and
convert files. Used by ``effnet convert`` and by every backend's ``build(weights=...)``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effnet import spec
from effnet.spec import ModelSpec

from . import canonical_io, containers
from .errors import WeightsError
from .formats import FORMATS, Format, classes_in, from_canonical, get_format, has_top, to_canonical

State = dict[str, np.ndarray]


def _signature_matches(keys: set[str]) -> list[str]:
    """Formats whose signature prefixes the names in ``keys`` carry; longest prefix first, so flax's
    ``stem.conv.kernel`` wins over torch's ``stem.conv.``."""
    hits = [
        (len(prefix), f.name)
        for f in FORMATS.values()
        for prefix in f.signatures
        if any(k.startswith(prefix) for k in keys)
    ]
    return list(dict.fromkeys(name for _, name in sorted(hits, reverse=True)))


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess a checkpoint's format from its metadata or its tensor names."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if path.suffix == ".safetensors" and canonical_io.is_canonical(path):
        return "canonical"
    try:
        keys = set(containers.read_for_detection(path))
    except ImportError as err:
        raise WeightsError(
            f"{path}: cannot detect its format without torch installed; pass the format explicitly"
        ) from err
    matches = _signature_matches(keys)
    if matches:
        return matches[0]
    raise WeightsError(f"{path}: cannot detect the weights format; name it (one of {', '.join(FORMATS)})")


@dataclass(frozen=True)
class Loaded:
    weights: State  # canonical
    spec: ModelSpec
    format: str
    include_top: bool


def load(
    path: str | os.PathLike[str],
    model: str,
    *,
    fmt: str | None = None,
    profile: str | None = None,
    num_classes: int | None = None,
    include_top: bool | None = None,
    **overrides: object,
) -> Loaded:
    """Read ``path`` (any format) as canonical weights for ``model``. The spec is resolved with the
    format's profile unless ``profile`` is given, so a model built from it reproduces the source
    library's outputs. ``num_classes``/``include_top`` default to what the checkpoint holds."""
    name = fmt or detect_format(path)
    f = get_format(name)
    model, profile = spec.lookup(model, profile, among=f.profiles)
    if f.container == "canonical":
        cf = canonical_io.read_canonical(path)
        top = cf.metadata.get("include_top", "true") == "true" if include_top is None else include_top
        classes = num_classes or (
            int(cf.weights["classifier.bias"].shape[0]) if "classifier.bias" in cf.weights else None
        )
        ms = _resolve(model, profile or cf.metadata.get("profile"), classes, overrides)
        canonical_io.check_state(ms, cf.weights, include_top=top, what=f"{path} (model {ms.name})")
        canonical_io.check_metadata(path, cf, ms, same_spec=not overrides)
        return Loaded(cf.weights, ms, name, top)
    state = containers.read(f.container, path)
    probe = _resolve(model, f.profile_for(profile), None, overrides)
    top = has_top(state, probe, f) if include_top is None else include_top
    classes = num_classes or (classes_in(state, probe, f) if top else None)
    ms = _resolve(model, f.profile_for(profile), classes, overrides)
    try:
        weights = to_canonical(state, ms, f, include_top=top, what=str(path))
    except WeightsError as err:
        fits = _models_that_fit(state, f, ms.profile, top, classes)
        if not fits:
            raise
        raise WeightsError(
            f"{err} -- the checkpoint fits {', '.join(fits)}; pass that model",
            missing=err.missing,
            unexpected=err.unexpected,
            misshaped=err.misshaped,
        ) from None
    return Loaded(weights, ms, name, top)


def _models_that_fit(state: State, f: Format, profile: str, top: bool, classes: int | None) -> list[str]:
    """Spec models whose tensors this foreign state matches exactly (for a helpful error)."""
    fits = []
    for other in spec.names():
        try:
            ms = _resolve(other, profile, classes, {})
            to_canonical(state, ms, f, include_top=top)
        except (spec.SpecError, WeightsError):
            continue
        fits.append(other)
    return fits


def _resolve(
    model: str, profile: str | None, num_classes: int | None, overrides: dict[str, object]
) -> ModelSpec:
    extra = dict(overrides)
    if num_classes is not None:
        extra["num_classes"] = num_classes
    return spec.resolve(model, profile=profile, **extra)


def save(
    path: str | os.PathLike[str], weights: State, ms: ModelSpec, fmt: str, *, include_top: bool = True
) -> None:
    """Write canonical ``weights`` as format ``fmt`` (atomically)."""
    f: Format = get_format(fmt)
    if f.container == "canonical":
        canonical_io.save_canonical(path, ms, weights, include_top=include_top)
        return
    containers.write(f.container, path, from_canonical(weights, ms, f, include_top=include_top))


def convert_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    model: str,
    *,
    from_fmt: str | None = None,
    to_fmt: str = "canonical",
    profile: str | None = None,
) -> Loaded:
    if Path(src).resolve() == Path(dst).resolve():
        raise WeightsError("source and destination are the same file")
    get_format(to_fmt)
    loaded = load(src, model, fmt=from_fmt, profile=profile)
    save(dst, loaded.weights, loaded.spec, to_fmt, include_top=loaded.include_top)
    return loaded
