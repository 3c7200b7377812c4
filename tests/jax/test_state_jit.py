"""``StateJit`` runs the same training step as ``nnx.jit`` and, after ``sync()``, leaves the same state
in the objects (parameters, batch statistics, RNG counters)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from effnet import impl_jax
from effnet.conformance.tolerances import tolerance
from effnet.impl_jax.state_jit import StateJit

LR = 0.05


def sgd_step(model, x, onehot):
    def loss_fn(m):
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(m(x)), axis=-1))

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    nnx.update(model, jax.tree.map(lambda p, g: p - LR * g, nnx.state(model, nnx.Param), grads))
    return loss


def ema_step(model, ema, x, onehot):
    loss = sgd_step(model, x, onehot)
    nnx.update(
        ema,
        jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, nnx.state(ema, nnx.Param), nnx.state(model, nnx.Param)),
    )
    return loss


def batch(tiny):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((4, 32, 32, 3)), jnp.float32)
    return x, jax.nn.one_hot(jnp.arange(4) % tiny.num_classes, tiny.num_classes)


def fresh(tiny):
    model = impl_jax.from_spec(tiny, seed=3)
    model.train()
    return model


def assert_same_state(a, b, mode):
    sa, sb = impl_jax.canonical_state(a), impl_jax.canonical_state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_allclose(sa[key], sb[key], rtol=0, atol=tolerance("float32", mode), err_msg=key)


def test_same_losses_and_state_as_nnx_jit(tiny):
    x, onehot = batch(tiny)
    reference, ours = fresh(tiny), fresh(tiny)
    reference_step, our_step = nnx.jit(sgd_step), StateJit(sgd_step, ours)
    for _ in range(3):
        expected, got = float(reference_step(reference, x, onehot)), float(our_step(x, onehot))
        assert got == pytest.approx(expected, abs=tolerance("float32", "train"))
    our_step.sync()
    assert_same_state(ours, reference, "update")
    # the steps changed weights and running statistics (a step doing nothing would pass the above)
    before, after = impl_jax.canonical_state(fresh(tiny)), impl_jax.canonical_state(ours)
    for key in ("head.conv.kernel", "stem.bn.mean"):
        assert np.abs(after[key] - before[key]).max() > 1e-3, key


def test_several_objects_and_continuing_after_sync(tiny):
    x, onehot = batch(tiny)
    reference, reference_ema = fresh(tiny), fresh(tiny)
    ours, our_ema = fresh(tiny), fresh(tiny)
    reference_step = nnx.jit(ema_step)
    step = StateJit(ema_step, ours, our_ema)
    for _ in range(2):
        reference_step(reference, reference_ema, x, onehot)
        step(x, onehot)
    step.sync()
    assert_same_state(our_ema, reference_ema, "update")
    # after a sync the objects are usable again, e.g. by a fresh StateJit
    reference_step(reference, reference_ema, x, onehot)
    again = StateJit(ema_step, ours, our_ema)
    again(x, onehot)
    again.sync()
    assert_same_state(ours, reference, "update")
