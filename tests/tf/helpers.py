"""Shared helpers: keras.applications models with random weights and randomised BN statistics
(our canonical random weights exported to their layout), and the relative error."""

from __future__ import annotations

import keras
import numpy as np

from effnet import impl_tf, spec
from effnet.conformance.references import assign_keras_applications
from effnet.conformance.tolerances import tolerance
from effnet.spec import reference
from effnet.weights_convert import keras_applications

FP32_EVAL = tolerance("float32", "eval")
CI_KERAS = ["efficientnet-b0", "efficientnetv2-b0", "efficientnetv2-s"]


def keras_names() -> list[str]:
    """Every model keras.applications defines (V1 B0-B7, V2 B0-B3, S, M, L)."""
    out = []
    for name in spec.names():
        try:
            spec.implementation_name(name, "keras")
        except spec.SpecError:
            continue
        out.append(name)
    return out


def is_v1(ms: spec.ModelSpec) -> bool:
    return ms.family == keras_applications.FAMILY


def keras_app(
    ms: spec.ModelSpec, size: tuple[int, int], *, include_preprocessing: bool = True, include_top: bool = True
) -> keras.Model:
    """keras.applications with weights=None and a *static* input size (V1's correct_pad equals TF
    SAME only then, SOURCES §3.3), logits out. V1 has no include_preprocessing switch (always in-model)."""
    fn = getattr(keras.applications, spec.implementation_name(ms.name, "keras"))
    extra = {} if is_v1(ms) else {"include_preprocessing": include_preprocessing}
    return fn(
        weights=None,
        include_top=include_top,
        input_shape=(*size, 3),
        classes=ms.num_classes,
        classifier_activation=None,
        **extra,
    )


def randomised_keras(
    ms: spec.ModelSpec, size: tuple[int, int], *, include_preprocessing: bool = True, seed: int = 0
) -> tuple[dict[str, np.ndarray], keras.Model]:
    """Random canonical weights (BN statistics included) and a keras.applications model holding them."""
    weights = reference.random_weights(ms, seed)
    net = keras_app(ms, size, include_preprocessing=include_preprocessing)
    assign_keras_applications(net, ms, weights)
    return weights, net


def ours(ms: spec.ModelSpec, weights: dict[str, np.ndarray], **kwargs: object) -> impl_tf.EfficientNet:
    model = impl_tf.from_spec(ms, **kwargs)
    impl_tf.load_canonical_state(model, weights)
    return model


def preprocess(ms: spec.ModelSpec, pixels: np.ndarray) -> np.ndarray:
    """The spec's preprocessing, outside the model."""
    scale, offset = (np.asarray(v, np.float32) for v in (ms.preprocessing.scale, ms.preprocessing.offset))
    return pixels * scale + offset


def pixels(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


def run(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False))


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())
