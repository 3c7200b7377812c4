"""Layers with hand-written gradients, because XLA:CPU runs their automatic ones slowly:

- ``depthwise_conv``: a depthwise convolution as k*k shifted multiplies. XLA:CPU's own depthwise
  convolution is slow in every direction; differentiating the shifted form automatically makes XLA
  copy out every shifted slice of the input for the kernel gradient and recompute the upstream
  gradient once per tap for the input gradient.
- ``dense_conv``: XLA's convolution, but the kernel gradient as one matmul per kernel tap, and for
  convolutions that widen (out > in channels) the input gradient as one matmul per tap too.
- ``batch_norm_act``: training-mode batch normalisation followed by the activation. Its automatic
  gradient materialises several full-size intermediates per layer.

The depthwise kernel gradient sums its k*k products with one *variadic* ``lax.reduce``, which XLA
fuses into a single pass over the inputs instead of writing each shifted product out and summing it
separately; batch-norm sums stay separate ``jnp.sum``s (XLA:CPU's library reductions are faster
there: measured 8.5 vs 15.0 ms per layer at 16x48x48x128, forward + backward).
The arithmetic is the textbook one (the spec says what is computed; this file only says how):
equal to the automatic gradients up to float rounding, checked in ``tests/jax/test_fused.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

Pads = tuple[tuple[int, int], tuple[int, int]]


def wide(dtype: jnp.dtype) -> jnp.dtype:
    """The dtype sums and statistics are kept in: float32, or the input's if wider (bf16 -> f32)."""
    return jnp.promote_types(dtype, jnp.float32)


def _sums(*arrays: jax.Array, axes: tuple[int, ...]) -> tuple[jax.Array, ...]:
    """Sum every array over ``axes`` in one fused pass (a variadic reduce)."""
    zeros = tuple(jnp.zeros((), a.dtype) for a in arrays)

    def add(a: tuple[jax.Array, ...], b: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        return tuple(u + v for u, v in zip(a, b, strict=True))

    return tuple(lax.reduce(arrays, zeros, add, axes))


# ---- depthwise convolution ------------------------------------------------------------------------


def _taps(xp: jax.Array, k: int, stride: int, out_hw: tuple[int, int]):
    rows, cols = ((n - 1) * stride + 1 for n in out_hw)
    for i in range(k):
        for j in range(k):
            yield i, j, xp[:, i : i + rows : stride, j : j + cols : stride, :]


def _pad(x: jax.Array, pads: Pads) -> jax.Array:
    return jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def depthwise_conv(
    x: jax.Array, kernel: jax.Array, stride: int, pads: Pads, out_hw: tuple[int, int]
) -> jax.Array:
    """NHWC ``x`` * (k, k, 1, C) ``kernel`` with explicit ``pads`` giving output ``out_hw``."""
    return _depthwise_forward(x, kernel, stride, pads, out_hw)[0]


def _depthwise_forward(
    x: jax.Array, kernel: jax.Array, stride: int, pads: Pads, out_hw: tuple[int, int]
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    out = None
    for i, j, tap in _taps(_pad(x, pads), kernel.shape[0], stride, out_hw):
        term = tap * kernel[i, j, 0]
        out = term if out is None else out + term
    return out, (x, kernel)


def _depthwise_backward(
    stride: int, pads: Pads, out_hw: tuple[int, int], saved: tuple[jax.Array, jax.Array], dy: jax.Array
) -> tuple[jax.Array, jax.Array]:
    x, kernel = saved
    # read both from memory: otherwise XLA recomputes their producers (e.g. the SiLU) once per tap
    x, dy = lax.optimization_barrier((x, dy))
    k, (h, w) = kernel.shape[0], x.shape[1:3]
    (top, bottom), (left, right) = pads
    spread = [(ho - 1) * stride + 1 for ho in out_hw]  # dy with stride-1 zeros between its pixels
    dyp = lax.pad(
        dy,
        jnp.zeros((), dy.dtype),
        [
            (0, 0, 0),
            (k - 1, h + top + bottom - spread[0], stride - 1),
            (k - 1, w + left + right - spread[1], stride - 1),
            (0, 0, 0),
        ],
    )
    dx = None  # the transposed convolution: dy spread out, correlated with the flipped kernel
    for i in range(k):
        for j in range(k):
            term = dyp[:, top + i : top + i + h, left + j : left + j + w, :] * kernel[k - 1 - i, k - 1 - j, 0]
            dx = term if dx is None else dx + term
    acc = wide(dy.dtype)
    products = [tap.astype(acc) * dy.astype(acc) for _, _, tap in _taps(_pad(x, pads), k, stride, out_hw)]
    dk = jnp.stack([s.sum(0) for s in _sums(*products, axes=(1, 2))])  # (N, C) partials: faster
    return dx, dk.reshape(kernel.shape).astype(kernel.dtype)


depthwise_conv.defvjp(_depthwise_forward, _depthwise_backward)


# ---- dense convolution (k > 1) ---------------------------------------------------------------------


def _dense(x: jax.Array, kernel: jax.Array, stride: int, pads: Pads) -> jax.Array:
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def dense_conv(
    x: jax.Array, kernel: jax.Array, stride: int, pads: Pads, out_hw: tuple[int, int]
) -> jax.Array:
    """NHWC ``x`` * HWIO ``kernel``: XLA's convolution forward. The kernel gradient as one matmul per
    tap (shifted input^T @ dy), which XLA:CPU runs about twice as fast as its own kernel-gradient
    convolution (e.g. 22 vs 43 ms for 16x48x48, 48 -> 192 channels). The input gradient of a widening
    convolution (out > in channels) as one matmul per tap (``_input_gradient_per_tap``); otherwise
    XLA's."""
    return _dense(x, kernel, stride, pads)


def _dense_forward(x, kernel, stride, pads, out_hw):
    return _dense(x, kernel, stride, pads), (x, kernel)


def _input_gradient_per_tap(
    kernel: jax.Array, stride: int, pads: Pads, dy: jax.Array, x_shape: tuple[int, ...]
) -> jax.Array:
    """dx = sum over taps (i, j) of (dy @ kernel[i, j]^T), spread to stride-s spacing and shifted to
    the tap's offset in the padded input, then cropped. XLA:CPU's own input-gradient convolution
    runs on one core when it has few output (= the forward's input) channels; these matmuls use
    both. 16 images, 3x3, per layer: 64 -> 256 channels at 24 px 12.8 -> 6.9 ms, 32 -> 128 at
    48 px 13.5 -> 7.6 ms, 24 -> 96 at 96 px stride 2 17.7 -> 7.5 ms; but 24 -> 24 at 96 px
    8.9 -> 14.5 ms, hence only for widening convolutions. Returned in the wide dtype the taps sum in."""
    k, cin, cout = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    n, h, w = x_shape[:3]
    ho, wo = dy.shape[1:3]
    (top, bottom), (left, right) = pads
    hp, wp = h + top + bottom, w + left + right
    rows, acc = dy.reshape(-1, cout), wide(dy.dtype)
    dxp = None
    for i in range(k):
        for j in range(k):
            tap = lax.dot_general(rows, kernel[i, j], (((1,), (1,)), ((), ())), preferred_element_type=acc)
            spread = lax.pad(
                tap.reshape(n, ho, wo, cin),
                jnp.zeros((), acc),
                [
                    (0, 0, 0),
                    (i, hp - i - (stride * (ho - 1) + 1), stride - 1),
                    (j, wp - j - (stride * (wo - 1) + 1), stride - 1),
                    (0, 0, 0),
                ],
            )
            dxp = spread if dxp is None else dxp + spread
    return dxp[:, top : top + h, left : left + w]


def _dense_backward(stride, pads, out_hw, saved, dy):
    x, kernel = saved
    k, cin, cout = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    if cout > cin:
        dx = _input_gradient_per_tap(kernel, stride, pads, dy, x.shape).astype(x.dtype)
    else:
        dx = jax.vjp(lambda v: _dense(v, kernel, stride, pads), x)[1](dy)[0]
    rows = dy.reshape(-1, cout)
    acc = wide(dy.dtype)
    dk = jnp.stack(
        [
            lax.dot_general(tap.reshape(-1, cin), rows, (((0,), (0,)), ((), ())), preferred_element_type=acc)
            for _, _, tap in _taps(_pad(x, pads), k, stride, out_hw)
        ]
    )
    return dx, dk.reshape(kernel.shape).astype(kernel.dtype)


dense_conv.defvjp(_dense_forward, _dense_backward)


# ---- batch normalisation (training mode) + activation -------------------------------------------


def _silu_grad(z: jax.Array) -> jax.Array:
    s = jax.nn.sigmoid(z)
    return s * (1 + z * (1 - s))


ACTIVATIONS: dict[str | None, tuple[Callable[[jax.Array], jax.Array], Callable[[jax.Array], jax.Array]]] = {
    None: (lambda z: z, lambda z: jnp.ones_like(z)),
    "silu": (jax.nn.silu, _silu_grad),
    "relu": (jax.nn.relu, lambda z: (z > 0).astype(z.dtype)),
}


@partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def batch_norm_act(
    x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float, activation: str | None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``activation((x - mean) * rsqrt(var + eps) * scale + bias)`` with the batch's mean and biased
    variance over every axis but the last; returns (output, mean, var). Statistics in float32 (float64
    for float64 input), output in ``x``'s dtype. mean and var carry no gradient (they only feed the
    running averages)."""
    return _bn_forward(x, scale, bias, epsilon, activation)[0]


def _bn_forward(x, scale, bias, epsilon, activation):
    axes = tuple(range(x.ndim - 1))
    xf = x.astype(wide(x.dtype))
    count = xf.size // xf.shape[-1]
    mean = jnp.mean(xf, axis=axes)
    centred = xf - mean
    var = jnp.sum(centred * centred, axes) / count  # two-pass, as nnx.BatchNorm(use_fast_variance=False)
    rstd = lax.rsqrt(var + epsilon)
    z = centred * (rstd * scale) + bias
    y = ACTIVATIONS[activation][0](z).astype(x.dtype)
    return (y, mean, var), (x, mean, rstd, scale, bias)


def _bn_backward(epsilon, activation, saved, cotangents):
    x, mean, rstd, scale, bias = saved
    stats = wide(x.dtype)
    dy = cotangents[0].astype(stats)  # mean/var feed only the running averages: no gradient
    axes = tuple(range(x.ndim - 1))
    xhat = (x.astype(stats) - mean) * rstd
    g = dy * ACTIVATIONS[activation][1](xhat * scale + bias)
    dbias, dscale = jnp.sum(g, axes), jnp.sum(g * xhat, axes)
    count = x.size // x.shape[-1]
    dx = (rstd * scale) * (g - dbias / count - xhat * (dscale / count))
    return dx.astype(x.dtype), dscale.astype(scale.dtype), dbias.astype(bias.dtype)


batch_norm_act.defvjp(_bn_forward, _bn_backward)
