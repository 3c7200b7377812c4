"""``build(name, ...)``: resolve the spec, build the Keras model, load weights of any supported format.

The model's variables are named as in its own ``.weights.h5`` (the ``keras`` format: h5 group path
from ``weights_convert.naming.keras_names`` + ``/vars/{i}`` in Keras' creation order), so one engine
(``weights_convert.formats``) maps them to and from canonical weights, layouts included.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np

from effnet import spec
from effnet.spec import ModelSpec
from effnet.spec.init import Scheme, initial_weights
from effnet.weights_convert import convert, naming
from effnet.weights_convert.formats import FORMATS, from_canonical, to_canonical

from .model import EfficientNet, Pooling

NATIVE = FORMATS["keras"]
INPUT_SHAPE = (None, None, None, 3)  # NHWC, any size


def from_spec(
    ms: ModelSpec,
    *,
    include_top: bool = True,
    include_preprocessing: bool = False,
    pooling: Pooling = None,
    seed: int = 0,
    init: Scheme = "fan_in",
    **kwargs: Any,
) -> EfficientNet:
    """Build an already built model from a resolved spec, starting from ``spec.init`` (the same
    ``seed`` and ``init`` scheme give the same network in every backend). ``kwargs`` go to
    ``keras.Model`` (e.g. ``name``). Mixed precision: set the policy first,
    ``keras.config.set_dtype_policy("mixed_bfloat16")`` (bf16 compute; float32 variables, BN
    statistics and logits)."""
    model = EfficientNet(
        ms, include_top=include_top, include_preprocessing=include_preprocessing, pooling=pooling, **kwargs
    )
    model.build(INPUT_SHAPE)
    load_canonical_state(model, initial_weights(ms, seed, scheme=init, include_top=include_top))
    return model


def build(
    name: str,
    *,
    profile: str | None = None,
    num_classes: int = 1000,
    include_top: bool = True,
    include_preprocessing: bool = False,
    weights: str | os.PathLike[str] | None = None,
    weights_format: str | None = None,
    pooling: Pooling = None,
    **overrides: Any,
) -> EfficientNet:
    """Build model ``name`` as ``profile`` resolves it (default: the paper's definition), NHWC.

    ``weights``: a checkpoint in any supported format (canonical, keras, keras-applications, torch,
    torchvision, timm, ...), detected when ``weights_format`` is omitted. A foreign checkpoint
    resolves the spec with its library's profile unless ``profile`` is given (keras.applications
    files: ``keras``), so the model reproduces that library's outputs. ``include_preprocessing``
    puts the spec's preprocessing in the model: it then takes RGB pixels in [0, 255].
    """
    if weights is None:
        ms = spec.resolve(name, profile=profile, num_classes=num_classes, **overrides)
        return from_spec(
            ms, include_top=include_top, include_preprocessing=include_preprocessing, pooling=pooling
        )
    loaded = convert.load(
        weights,
        name,
        fmt=weights_format,
        profile=profile,
        num_classes=num_classes,
        include_top=include_top,
        **overrides,
    )
    model = from_spec(
        loaded.spec, include_top=include_top, include_preprocessing=include_preprocessing, pooling=pooling
    )
    load_canonical_state(model, loaded.weights)
    return model


def _unit_layers(model: EfficientNet) -> dict[str, keras.layers.Layer]:
    """Each weight-holding Keras layer under its native (canonical-prefix) name, e.g.
    ``stem.conv``, ``blocks.3.se.reduce``, ``classifier``; ConvBN/SqueezeExcite are named by the spec."""
    convbns = [model.stem, *(c for b in model.blocks for c in (b.expand, b.dw, b.project) if c), model.head]
    out: dict[str, keras.layers.Layer] = {}
    for c in convbns:
        out[f"{c.name}.conv"], out[f"{c.name}.bn"] = c.conv, c.bn
    for b in model.blocks:
        if b.se is not None:
            out[f"{b.se.name}.reduce"], out[f"{b.se.name}.expand"] = b.se.reduce, b.se.expand
    if model.classifier is not None:
        out["classifier"] = model.classifier
    return out


def native_variables(model: EfficientNet) -> dict[str, keras.Variable]:
    """``keras``-format name (the variable's path in the model's ``.weights.h5``) -> variable."""
    layers, out = _unit_layers(model), {}
    for u in naming.units(model.spec, include_top=model.include_top):
        ours, paths = naming.native_names(model.spec, u), NATIVE.namer(model.spec, u)
        for role, path in paths.items():
            for i, variable in enumerate(layers[ours[role]].weights):  # Keras' save order
                out[f"{path}/vars/{i}"] = variable
    return out


def canonical_state(model: EfficientNet) -> dict[str, np.ndarray]:
    """The model's weights as canonical numpy arrays (a copy)."""
    state = {k: np.asarray(v.numpy()) for k, v in native_variables(model).items()}
    return to_canonical(state, model.spec, NATIVE, include_top=model.include_top, what="impl_tf model")


def load_canonical_state(model: EfficientNet, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical weights into the model (strict: every tensor, exact shapes)."""
    state = from_canonical(weights, model.spec, NATIVE, include_top=model.include_top)
    variables = native_variables(model)
    assert set(state) == set(variables), "impl_tf variables must cover the keras format exactly"
    for key, variable in variables.items():
        variable.assign(np.asarray(state[key], dtype=variable.dtype))
