"""The hand-written gradients in impl_jax.fused equal JAX's automatic ones on the plain formulation
(lax's grouped convolution; batch norm written out as flax's nnx.BatchNorm computes it), in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from effnet.conformance.tolerances import tolerance
from effnet.impl_jax import fused
from effnet.impl_jax.model import BatchNorm
from effnet.spec.padding import output_size, pads

BOUND = tolerance("float64", "grad")


def max_rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize(
    ("height", "width", "kernel", "stride", "padding"),
    [
        (12, 12, 3, 1, "tf_same"),
        (13, 10, 5, 2, "tf_same"),
        (12, 9, 3, 2, "tf_same"),
        (9, 11, 5, 1, "symmetric"),
        (13, 8, 3, 2, "symmetric"),
    ],
)
def test_depthwise_matches_grouped_convolution(height, width, kernel, stride, padding):
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, height, width, 5)))
        k = jnp.asarray(rng.standard_normal((kernel, kernel, 1, 5)))
        padded = (pads(padding, height, kernel, stride), pads(padding, width, kernel, stride))
        out_hw = (output_size(height, stride), output_size(width, stride))

        def ours(x, k):
            return fused.depthwise_conv(x, k, stride, padded, out_hw)

        def reference(x, k):
            return lax.conv_general_dilated(
                x,
                k,
                (stride, stride),
                padded,
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=5,
            )

        y, pullback = jax.vjp(ours, x, k)
        y_ref, pullback_ref = jax.vjp(reference, x, k)
        assert y.shape == (2, *out_hw, 5)
        cotangent = jnp.asarray(rng.standard_normal(y.shape))
        for got, want in zip((y, *pullback(cotangent)), (y_ref, *pullback_ref(cotangent)), strict=True):
            assert max_rel(got, want) <= BOUND


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [
        (15, 3, 2, "tf_same"),
        (12, 3, 1, "symmetric"),
        (8, 3, 2, "tf_same"),
        (9, 5, 1, "tf_same"),
        (10, 5, 2, "tf_same"),
    ],
)
@pytest.mark.parametrize(("cin", "cout"), [(3, 4), (4, 3)])  # widening: input gradient per tap; else XLA's
def test_dense_conv_matches_automatic_gradient(size, kernel, stride, padding, cin, cout):
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, size, size + 1, cin)))
        k = jnp.asarray(rng.standard_normal((kernel, kernel, cin, cout)))
        padded = (pads(padding, size, kernel, stride), pads(padding, size + 1, kernel, stride))
        out_hw = (output_size(size, stride), output_size(size + 1, stride))
        ours = jax.vjp(lambda x, k: fused.dense_conv(x, k, stride, padded, out_hw), x, k)
        reference = jax.vjp(
            lambda x, k: lax.conv_general_dilated(
                x, k, (stride, stride), padded, dimension_numbers=("NHWC", "HWIO", "NHWC")
            ),
            x,
            k,
        )
        cotangent = jnp.asarray(rng.standard_normal(ours[0].shape))
        for got, want in zip(
            (ours[0], *ours[1](cotangent)), (reference[0], *reference[1](cotangent)), strict=True
        ):
            assert max_rel(got, want) <= BOUND


def _reference_bn(x, scale, bias, epsilon, activation):
    mean = jnp.mean(x, axis=(0, 1, 2))
    var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
    z = (x - mean) * (lax.rsqrt(var + epsilon) * scale) + bias
    return fused.ACTIVATIONS[activation][0](z), mean, var


@pytest.mark.parametrize("activation", [None, "silu", "relu"])
def test_batch_norm_act_matches_automatic_gradient(activation):
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((3, 5, 4, 6)) * 2 + 0.5)
        scale, bias = jnp.asarray(rng.standard_normal(6)), jnp.asarray(rng.standard_normal(6))
        ours = jax.vjp(lambda *a: fused.batch_norm_act(*a, 1e-3, activation)[0], x, scale, bias)
        reference = jax.vjp(lambda *a: _reference_bn(*a, 1e-3, activation)[0], x, scale, bias)
        cotangent = jnp.asarray(rng.standard_normal(x.shape))
        assert max_rel(ours[0], reference[0]) <= BOUND
        for got, want in zip(ours[1](cotangent), reference[1](cotangent), strict=True):
            assert max_rel(got, want) <= BOUND
        for got, want in zip(
            fused.batch_norm_act(x, scale, bias, 1e-3, activation)[1:],
            _reference_bn(x, scale, bias, 1e-3, activation)[1:],
            strict=True,
        ):
            assert max_rel(got, want) <= BOUND


def test_batch_norm_module_equals_flax_batch_norm():
    """Same outputs and running statistics as nnx.BatchNorm(use_fast_variance=False), train and eval."""
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        ours = BatchNorm(6, momentum=0.9, epsilon=1e-3, activation=None, dtype=None, rngs=nnx.Rngs(0))
        flax_bn = nnx.BatchNorm(
            6, momentum=0.9, epsilon=1e-3, use_fast_variance=False, param_dtype=jnp.float64, rngs=nnx.Rngs(0)
        )
        scale = jnp.asarray(rng.standard_normal(6))
        for module in (ours, flax_bn):  # the same float64 state in both
            module.mean.set_value(jnp.zeros(6, jnp.float64))
            module.var.set_value(jnp.ones(6, jnp.float64))
            module.scale.set_value(scale)
            module.bias.set_value(jnp.zeros(6, jnp.float64))
        x = jnp.asarray(rng.standard_normal((4, 3, 3, 6)) * 3 + 1)
        assert max_rel(ours(x), flax_bn(x)) <= BOUND
        assert max_rel(ours.mean[...], flax_bn.mean[...]) <= BOUND
        assert max_rel(ours.var[...], flax_bn.var[...]) <= BOUND
        ours.use_running_average = flax_bn.use_running_average = True
        assert max_rel(ours(x), flax_bn(x)) <= BOUND
