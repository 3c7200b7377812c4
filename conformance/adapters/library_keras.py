"""keras.applications' EfficientNets (``EfficientNetB0``..``B7``, ``EfficientNetV2B0``..``V2L``), profile
``keras``, on whichever Keras backend the process runs (TensorFlow by default; ``KERAS_BACKEND=jax``
certifies Keras on JAX).

A model is the canonical weights plus the spec; each forward builds the Keras model for the input's
size (V1's stride-2 padding is computed from a static input shape) and copies the weights in layer by
layer. The input is the network input: V2 is built without its preprocessing; V1 always normalises
in-model, so it gets pixels (the spec's mean/variance are set in its Normalization layer).

Intermediates: ``stem_activation`` is the stem, the last layer named ``block{stage}{letter}_...`` block
``blocks.{i}``, ``top_activation`` the head.

Train mode (levels L3 and L4): keras.applications fixes its dropout rates (0.2 before the classifier;
``drop_connect_rate`` 0.2 scaled by block index for the drop-path ``Dropout`` layers), so a train-mode
call first sets each of those layers' rate to the spec's (``ms.dropout``; each block's
``drop_path_rate``; the certifier asks for 0). The forward updates the BN moving statistics as Keras
does (its own momentum); they are read back into the model's canonical weights. ``train_step`` (TensorFlow
backend) takes the gradient of the mean cross-entropy with ``tf.GradientTape`` and applies plain SGD.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from effnet import spec
from effnet.spec import ModelSpec
from effnet.spec.model_spec import BlockSpec
from effnet.weights_convert import keras_applications, keras_io
from effnet.weights_convert.formats import FORMATS, from_canonical, to_canonical

from ..protocol import ADAPTER_API, StepResult, Weights
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
    version = "2"  # 2: train mode (L3, L4)
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
        return self._canonical(net, ms, lambda variable: variable.numpy())

    def _canonical(
        self, net: Any, ms: ModelSpec, value: Any, what: str = "keras.applications model"
    ) -> Weights:
        """``value(variable)`` for every canonical tensor of ``net``, under its canonical name."""
        template = keras_io.group_by_layer(from_canonical(spec_zeros(ms), ms, FORMAT))
        state: Weights = {}
        for layer, leaves in template.items():
            if layer == keras_applications.LAYER:
                continue  # V1's in-model Normalization: the spec's preprocessing, not a weight
            variables = net.get_layer(layer).weights
            if len(variables) != len(leaves):
                raise ValueError(f"layer {layer} holds {len(variables)} weights, the spec's {len(leaves)}")
            state.update(
                {
                    f"{layer}/{leaf}": np.asarray(value(v), np.float32)
                    for leaf, v in zip(leaves, variables, strict=True)
                }
            )
        return to_canonical(state, ms, FORMAT, what=what)

    def set_state(self, model: KerasApplicationsModel, weights: Weights) -> None:
        model.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}

    def get_state(self, model: KerasApplicationsModel) -> Weights:
        return dict(model.weights)

    def parameter_count(self, model: KerasApplicationsModel) -> int:
        size = model.spec.image_size.eval
        net = self._net(model.spec, (size, size, 3))
        return int(sum(np.prod(w.shape) for w in net.trainable_weights))

    def _network(
        self, model: KerasApplicationsModel, x: np.ndarray, *, training: bool
    ) -> tuple[Any, np.ndarray]:
        """The Keras model for ``x``'s size holding ``model``'s weights, and ``x`` as its input (V1
        normalises in-model, so it takes pixels). For training, the spec's dropout rates."""
        ms = model.spec
        net = self._net(ms, tuple(x.shape[1:]))
        assign_keras_applications(net, ms, model.weights)
        if training:
            rates = {"top_dropout": ms.dropout}
            for b in ms.blocks:
                rates[f"{_block_prefix(b)}drop"] = b.drop_path_rate
            for layer in net.layers:
                if type(layer).__name__ == "Dropout":
                    if layer.name not in rates:
                        raise ValueError(f"keras-applications adapter: unexpected Dropout layer {layer.name}")
                    layer.rate = rates[layer.name]
        if ms.family == keras_applications.FAMILY:
            pre = ms.preprocessing
            x = (x - np.asarray(pre.offset, np.float32)) / np.asarray(pre.scale, np.float32)  # -> pixels
        return net, np.asarray(x, np.float32)

    def forward(
        self, model: KerasApplicationsModel, x: np.ndarray, *, training: bool = False
    ) -> dict[str, np.ndarray]:
        keras, ms = _keras(), model.spec
        net, inputs = self._network(model, x, training=training)
        taps = self._taps(net, ms)
        outputs = [net.get_layer(layer).output for layer in taps.values()]
        probe = keras.Model(net.input, [*outputs, net.output])
        outputs = probe(inputs, training=training)
        if training:  # the BN moving statistics this call updated
            model.weights = self._state_of(net, ms)
        named = {name: np.asarray(out) for name, out in zip(taps, outputs[:-1], strict=True)}
        return {**named, "logits": np.asarray(outputs[-1])}

    def train_step(
        self, model: KerasApplicationsModel, x: np.ndarray, labels: np.ndarray, lr: float
    ) -> StepResult:
        if _keras().backend.backend() != "tensorflow":
            raise NotImplementedError("keras-applications adapter: train_step runs on the TensorFlow backend")
        import tensorflow as tf

        ms = model.spec
        net, inputs = self._network(model, x, training=True)
        trainable = net.trainable_variables
        with tf.GradientTape() as tape:
            logits = net(tf.constant(inputs), training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(labels, tf.int64), logits)
            )
        grads = {id(v): g for v, g in zip(trainable, tape.gradient(loss, trainable), strict=True)}
        canon = self._canonical(
            net, ms, lambda v: grads[id(v)] if id(v) in grads else v.numpy(), "keras.applications gradients"
        )
        for variable in trainable:
            variable.assign_sub(lr * grads[id(variable)])
        model.weights = self._state_of(net, ms)
        return StepResult(
            float(loss),
            {k: v for k, v in canon.items() if not k.endswith((".bn.mean", ".bn.var"))},
            dict(model.weights),
        )

    @staticmethod
    def _taps(net: Any, ms: ModelSpec) -> dict[str, str]:
        names = [layer.name for layer in net.layers]
        taps = {"stem": "stem_activation"}
        for b in ms.blocks:
            taps[b.name] = [n for n in names if n.startswith(_block_prefix(b))][-1]
        taps["head"] = "top_activation"
        return taps


def _block_prefix(block: BlockSpec) -> str:
    """The prefix of keras.applications' layer names in a block: ``block{stage}{repeat letter}_``."""
    return f"block{block.stage}{chr(ord('a') + block.repeat)}_"


def spec_zeros(ms: ModelSpec) -> Weights:
    return {name: np.zeros(shape, np.float32) for name, shape in spec.canonical.shapes(ms).items()}


ADAPTER = KerasApplicationsAdapter()
