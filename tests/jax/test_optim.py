"""The JAX engine's optax chain follows the automl/Keras RMSProp formula (eps inside the sqrt)."""

import jax.numpy as jnp
import optax

from effnet.conformance.checks import rel_error
from effnet.conformance.tolerances import tolerance
from tests.training.loop_checks import optimizer_case, rmsprop_reference


def test_optax_chain_matches_the_reference_formula():
    from effnet.impl_jax.train import _transform

    w, grads, h = optimizer_case()
    tx = _transform(
        lambda params: True, weight_decay=h["wd"], decay=h["rho"], eps=h["eps"], momentum=h["momentum"]
    )
    tx = optax.inject_hyperparams(tx)(learning_rate=h["lr"])
    params, state = jnp.asarray(w), None
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
    assert rel_error(params, rmsprop_reference(w, grads, **h))[1] <= tolerance("float32", "update")
