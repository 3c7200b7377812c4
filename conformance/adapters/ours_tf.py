"""The conformance-suite adapter for the TensorFlow backend (see ``conformance.backends.Adapter``).

Keras BatchNormalization already follows the spec's conventions (``momentum`` = decay, running
variance updated with the biased batch variance), so nothing is converted. Forward and step run
eagerly: each drawn architecture and input size is used once, and tracing a ``tf.function`` for
it would cost more than it saves.
"""

from __future__ import annotations

# effnet.impl_tf comes first: importing it selects Keras' TensorFlow backend (isort is off for this
# file in pyproject.toml so that the order stays)
import effnet.impl_tf  # noqa: F401
import keras
import numpy as np
import tensorflow as tf

from effnet.spec import ModelSpec
from effnet.weights_convert.formats import to_canonical

from effnet.impl_tf.build import NATIVE, canonical_state, from_spec, load_canonical_state, native_variables
from effnet.impl_tf.model import EfficientNet

from .ours import OursDeclaration
from ..protocol import StepResult, Weights


def _numpy(t: tf.Tensor) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float32)


class TensorFlowAdapter(OursDeclaration):
    name = "tf"

    def build(self, ms: ModelSpec) -> EfficientNet:
        keras.utils.set_random_seed(0)
        return from_spec(ms)

    def set_state(self, model: EfficientNet, weights: Weights) -> None:
        load_canonical_state(model, weights)

    def get_state(self, model: EfficientNet) -> Weights:
        return canonical_state(model)

    def forward(self, model: EfficientNet, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        out = model.forward_intermediates(tf.constant(x, tf.float32), training=training)
        return {k: _numpy(v) for k, v in out.items()}

    def train_step(self, model: EfficientNet, x: np.ndarray, labels: np.ndarray, lr: float) -> StepResult:
        variables = native_variables(model)
        trainable = {k: v for k, v in variables.items() if v.trainable}
        with tf.GradientTape() as tape:
            logits = model(tf.constant(x, tf.float32), training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(labels, tf.int64), logits)
            )
        grads = dict(zip(trainable, tape.gradient(loss, list(trainable.values())), strict=True))
        state = {k: _numpy(grads[k]) if k in grads else _numpy(v.value) for k, v in variables.items()}
        canon = to_canonical(state, model.spec, NATIVE, include_top=model.include_top)
        for key, variable in trainable.items():
            variable.assign_sub(lr * grads[key])
        return StepResult(
            float(loss),
            {k: v for k, v in canon.items() if not k.endswith((".bn.mean", ".bn.var"))},
            canonical_state(model),
        )


ADAPTER = TensorFlowAdapter()
