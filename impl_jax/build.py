"""``build(name, ...)``: resolve the spec, build the NNX module, load weights of any supported format."""

from __future__ import annotations

import os
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from effnet import spec
from effnet.spec import ModelSpec, canonical
from effnet.spec.init import Scheme, initial_weights
from effnet.weights_convert import convert
from effnet.weights_convert.errors import mismatch_error

from .model import EfficientNet, Pooling


def from_spec(
    ms: ModelSpec,
    *,
    include_top: bool = True,
    pooling: Pooling = None,
    seed: int = 0,
    dtype: Any = None,
    init: Scheme = "fan_in",
) -> EfficientNet:
    """Build a model from an already resolved spec, starting from ``spec.init`` (the same ``seed`` and
    ``init`` scheme give the same network in every backend); ``seed`` also seeds dropout."""
    model = EfficientNet(
        ms,
        include_top=include_top,
        pooling=pooling,
        dtype=dtype,
        rngs=nnx.Rngs(params=seed, dropout=seed + 1),
    )
    load_canonical_state(model, initial_weights(ms, seed, scheme=init, include_top=include_top))
    return model


def build(
    name: str,
    *,
    profile: str | None = None,
    num_classes: int = 1000,
    include_top: bool = True,
    weights: str | os.PathLike[str] | None = None,
    weights_format: str | None = None,
    seed: int = 0,
    dtype: Any = None,
    pooling: Pooling = None,
    **overrides: Any,
) -> EfficientNet:
    """Build model ``name`` as ``profile`` resolves it (default: the paper's definition).

    ``weights``: a checkpoint in any supported format (canonical, flax, torch, torchvision, timm,
    keras...), detected when ``weights_format`` is omitted; a foreign checkpoint resolves the spec
    with its library's profile unless ``profile`` is given, so the outputs match that library.
    ``dtype=jnp.bfloat16`` computes in bf16 with float32 parameters and BN statistics.
    """
    if weights is None:
        ms = spec.resolve(name, profile=profile, num_classes=num_classes, **overrides)
        return from_spec(ms, include_top=include_top, pooling=pooling, seed=seed, dtype=dtype)
    loaded = convert.load(
        weights,
        name,
        fmt=weights_format,
        profile=profile,
        num_classes=num_classes,
        include_top=include_top,
        **overrides,
    )
    model = from_spec(loaded.spec, include_top=include_top, pooling=pooling, seed=seed, dtype=dtype)
    load_canonical_state(model, loaded.weights)
    return model


def _variables(model: EfficientNet) -> dict[str, nnx.Variable]:
    """Canonical name -> the model's Param / BatchStat variable (the NNX paths are canonical)."""
    out = {}
    for path, var in nnx.iter_graph(model):
        if isinstance(var, nnx.Param | nnx.BatchStat):
            out[".".join(str(p) for p in path)] = var
    return out


def canonical_state(model: EfficientNet) -> dict[str, np.ndarray]:
    """The model's weights as canonical numpy arrays (a copy)."""
    return {k: np.array(v.value) for k, v in _variables(model).items()}


def load_canonical_state(model: EfficientNet, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical weights into the model (strict: every tensor, exact shapes)."""
    expected = canonical.shapes(model.spec, include_top=model.include_top)
    mismatch_error(
        f"canonical state for {model.spec.name}",
        expected,
        {k: tuple(np.shape(v)) for k, v in weights.items()},
    )
    variables = _variables(model)
    assert set(variables) == set(expected), "impl_jax parameter paths must equal canonical names"
    for name, var in variables.items():
        var.value = jnp.asarray(np.asarray(weights[name], np.float32))
