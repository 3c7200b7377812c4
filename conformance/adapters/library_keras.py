"""keras.applications' EfficientNets (``EfficientNetB0``..``B7``, ``EfficientNetV2B0``..``V2L``), profile
``keras``, on whichever Keras backend the process runs (TensorFlow by default; ``KERAS_BACKEND=jax``
certifies Keras on JAX).

A model is the canonical weights plus the spec; each forward builds the Keras model for the input's
size (V1's stride-2 padding is computed from a static input shape) and copies the weights in layer by
layer. The input is the network input: V2 is built without its preprocessing; V1 always normalises
in-model, so it gets pixels (the spec's mean/variance are set in its Normalization layer).

Intermediates: ``stem_activation`` is the stem, the last layer named ``block{stage}{letter}_...`` block
``blocks.{i}``, ``top_activation`` the head. Levels L0-L2 (eval); train mode is not adapted.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from effnet import spec
from effnet.spec import ModelSpec
from effnet.weights_convert import keras_applications, keras_io
from effnet.weights_convert.formats import FORMATS, from_canonical, to_canonical

from ..protocol import ADAPTER_API, Weights
from ..references import assign_keras_applications

PROFILE = "keras"
FORMAT = FORMATS["keras-applications"]


@dataclass
class KerasApplicationsModel:
    spec: ModelSpec
    weights: Weights = field(default_factory=dict)


def _keras() -> Any:
    """keras, on the backend the process asks for; on TensorFlow through ``effnet.impl_tf``, which
    orders the imports that TensorFlow and PyTorch need in one process."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import effnet.impl_tf  # noqa: F401
    import keras

    return keras


class KerasApplicationsAdapter:
    adapter_api = ADAPTER_API
    name = "keras-applications"
    version = "1"
    library = "keras"

    @property
    def library_version(self) -> str:
        return f"{importlib.metadata.version('keras')} ({_keras().backend.backend()} backend)"

    def claims(self) -> list[tuple[str, str]]:
        return [(model, PROFILE) for model in spec.profile_models(PROFILE)]

    def _net(self, ms: ModelSpec, input_shape: tuple[int, int, int]) -> Any:
        v1 = ms.family == keras_applications.FAMILY
        return getattr(_keras().applications, spec.implementation_name(ms.name, PROFILE))(
            weights=None,
            input_shape=input_shape,
            classes=ms.num_classes,
            classifier_activation=None,
            **({} if v1 else {"include_preprocessing": False}),
        )

    def build(self, ms: ModelSpec) -> KerasApplicationsModel:
        size = ms.image_size.eval
        return KerasApplicationsModel(ms, self._state_of(self._net(ms, (size, size, 3)), ms))

    def _state_of(self, net: Any, ms: ModelSpec) -> Weights:
        """The canonical weights a built Keras model holds (its variables in each layer's order)."""
        template = keras_io.group_by_layer(from_canonical(spec_zeros(ms), ms, FORMAT))
        state: Weights = {}
        for layer, leaves in template.items():
            if layer == keras_applications.LAYER:
                continue  # V1's in-model Normalization: the spec's preprocessing, not a weight
            values = net.get_layer(layer).get_weights()
            if len(values) != len(leaves):
                raise ValueError(f"layer {layer} holds {len(values)} weights, the spec's {len(leaves)}")
            state.update({f"{layer}/{leaf}": v for leaf, v in zip(leaves, values, strict=True)})
        return to_canonical(state, ms, FORMAT, what="keras.applications model")

    def set_state(self, model: KerasApplicationsModel, weights: Weights) -> None:
        model.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}

    def get_state(self, model: KerasApplicationsModel) -> Weights:
        return dict(model.weights)

    def parameter_count(self, model: KerasApplicationsModel) -> int:
        size = model.spec.image_size.eval
        net = self._net(model.spec, (size, size, 3))
        return int(sum(np.prod(w.shape) for w in net.trainable_weights))

    def forward(
        self, model: KerasApplicationsModel, x: np.ndarray, *, training: bool = False
    ) -> dict[str, np.ndarray]:
        if training:
            raise NotImplementedError("keras-applications adapter: train mode is not adapted (levels L0-L2)")
        keras, ms = _keras(), model.spec
        net = self._net(ms, tuple(x.shape[1:]))
        assign_keras_applications(net, ms, model.weights)
        taps = self._taps(net, ms)
        outputs = [net.get_layer(layer).output for layer in taps.values()]
        probe = keras.Model(net.input, [*outputs, net.output])
        if ms.family == keras_applications.FAMILY:
            pre = ms.preprocessing
            x = (x - np.asarray(pre.offset, np.float32)) / np.asarray(pre.scale, np.float32)  # -> pixels
        outputs = probe(x, training=False)
        named = {name: np.asarray(out) for name, out in zip(taps, outputs[:-1], strict=True)}
        return {**named, "logits": np.asarray(outputs[-1])}

    @staticmethod
    def _taps(net: Any, ms: ModelSpec) -> dict[str, str]:
        names = [layer.name for layer in net.layers]
        taps = {"stem": "stem_activation"}
        for b in ms.blocks:
            prefix = f"block{b.stage}{chr(ord('a') + b.repeat)}_"
            taps[b.name] = [n for n in names if n.startswith(prefix)][-1]
        taps["head"] = "top_activation"
        return taps


def spec_zeros(ms: ModelSpec) -> Weights:
    return {name: np.zeros(shape, np.float32) for name, shape in spec.canonical.shapes(ms).items()}


ADAPTER = KerasApplicationsAdapter()
