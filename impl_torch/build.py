"""``build(name, ...)``: resolve the spec, build the module, load weights of any supported format."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from effnet import spec
from effnet.spec import ModelSpec
from effnet.spec.init import Scheme, initial_weights
from effnet.weights_convert import convert
from effnet.weights_convert.formats import FORMATS, from_canonical, to_canonical

from .model import EfficientNet, Pooling

NATIVE = FORMATS["torch"]


def from_spec(
    ms: ModelSpec,
    *,
    include_top: bool = True,
    pooling: Pooling = None,
    seed: int = 0,
    init: Scheme = "fan_in",
) -> EfficientNet:
    """Build a model from an already resolved spec, starting from ``spec.init`` (the same ``seed`` and
    ``init`` scheme give the same network in every backend)."""
    model = EfficientNet(ms, include_top=include_top, pooling=pooling)
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
    pooling: Pooling = None,
    **overrides: Any,
) -> EfficientNet:
    """Build model ``name`` as ``profile`` resolves it (default: the paper's definition).

    ``weights``: a checkpoint in any supported format (canonical, torch, torchvision, timm),
    detected when ``weights_format`` is omitted. A foreign checkpoint resolves the spec with its
    library's profile unless ``profile`` is given, so the model reproduces that library's outputs.
    """
    if weights is None:
        ms = spec.resolve(name, profile=profile, num_classes=num_classes, **overrides)
        return from_spec(ms, include_top=include_top, pooling=pooling)
    loaded = convert.load(
        weights,
        name,
        fmt=weights_format,
        profile=profile,
        num_classes=num_classes,
        include_top=include_top,
        **overrides,
    )
    model = from_spec(loaded.spec, include_top=include_top, pooling=pooling)
    load_canonical_state(model, loaded.weights)
    return model


def canonical_state(model: EfficientNet) -> dict[str, np.ndarray]:
    """The model's weights as canonical numpy arrays (a copy)."""
    # a copy even on a CPU, where .numpy() would share the tensor's memory and change as it trains
    state = {k: v.detach().to("cpu", copy=True).numpy() for k, v in model.state_dict().items()}
    return to_canonical(state, model.spec, NATIVE, include_top=model.include_top, what="impl_torch model")


@torch.no_grad()
def load_canonical_state(model: EfficientNet, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical weights into the model (strict: every tensor, exact shapes)."""
    state = from_canonical(weights, model.spec, NATIVE, include_top=model.include_top)
    current = model.state_dict()
    model.load_state_dict(
        {
            k: torch.from_numpy(np.array(v)).to(current[k].dtype)
            for k, v in state.items()
            if not k.endswith("num_batches_tracked")
        }
        | {k: current[k] for k in current if k.endswith("num_batches_tracked")},
        strict=True,
    )
