"""The conformance-suite adapter for the JAX backend (see ``conformance.backends.Adapter``).
Flax BatchNorm already follows the spec's conventions (decay, biased variance), so nothing is
converted. Forward and step are ``nnx.jit``-compiled, as users run them (one compile per drawn
architecture is cheaper than eager dispatch compiling every primitive for every new shape)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from effnet.impl_jax.build import canonical_state, from_spec, load_canonical_state
from effnet.impl_jax.model import EfficientNet
from effnet.spec import ModelSpec

from ..protocol import StepResult, Weights
from .ours import OursDeclaration


@nnx.jit
def _forward(model: EfficientNet, x: jax.Array) -> dict[str, jax.Array]:
    return model.forward_intermediates(x)


@nnx.jit
def _sgd_step(
    model: EfficientNet, x: jax.Array, onehot: jax.Array, lr: jax.Array
) -> tuple[jax.Array, nnx.State]:
    def loss_fn(m: EfficientNet) -> jax.Array:
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(m(x)), axis=-1))

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    params = nnx.state(model, nnx.Param)
    nnx.update(model, jax.tree.map(lambda p, g: p - lr * g, params, grads))
    return loss, grads


class JaxAdapter(OursDeclaration):
    name = "jax"

    def build(self, ms: ModelSpec) -> EfficientNet:
        return from_spec(ms)

    def set_state(self, model: EfficientNet, weights: Weights) -> None:
        load_canonical_state(model, weights)

    def get_state(self, model: EfficientNet) -> Weights:
        return canonical_state(model)

    def forward(self, model: EfficientNet, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        model.train() if training else model.eval()
        return {k: np.asarray(v) for k, v in _forward(model, jnp.asarray(x, jnp.float32)).items()}

    def train_step(self, model: EfficientNet, x: np.ndarray, labels: np.ndarray, lr: float) -> StepResult:
        model.train()
        onehot = jax.nn.one_hot(jnp.asarray(labels), model.spec.num_classes)
        loss, grads = _sgd_step(model, jnp.asarray(x, jnp.float32), onehot, jnp.float32(lr))
        flat = {".".join(str(p) for p in path): np.asarray(v.value) for path, v in nnx.to_flat_state(grads)}
        return StepResult(float(loss), flat, canonical_state(model))


ADAPTER = JaxAdapter()
