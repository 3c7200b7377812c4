"""Flax NNX modules built from a resolved ModelSpec; NHWC. No architecture arithmetic happens here.

Classes, in the same order and with the same attribute names as ``impl_torch.model``:
``ConvBN``, ``SqueezeExcite``, ``DropPath``, ``MBConv`` / ``FusedMBConv`` (one ``Block`` body),
``EfficientNet``. Parameter paths equal canonical names (``blocks.3.dw.conv.kernel``,
``blocks.3.dw.bn.var``, ``classifier.kernel``): Flax already uses the canonical layouts.

``dtype`` (e.g. ``jnp.bfloat16``) sets the compute dtype; parameters and BN statistics stay float32.
Dropout and drop-path rates are plain attributes (``set_regularization``); changing one changes the
module's static structure, so a jitted step retraces once for the new value.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from effnet.spec import BlockSpec, ConvSpec, ModelSpec, SESpec
from effnet.spec.padding import output_size, pads

from . import fused

ACTIVATIONS = {name: functions[0] for name, functions in fused.ACTIVATIONS.items() if name}
GATES = {"sigmoid": jax.nn.sigmoid}
Pooling = Literal["avg", "max"] | None
DEPTHWISE_MODES = ("xla", "shifted")


class Conv(nnx.Module):
    """NHWC conv with an HWIO kernel ((kh, kw, 1, C) when depthwise) and the spec's padding, computed
    from the (static) input size. A 1x1 conv is computed as a matmul, other dense convs with a
    hand-written kernel gradient (``fused.dense_conv``). ``depthwise_mode="shifted"``
    evaluates a depthwise conv as k*k shifted multiplies with a hand-written gradient
    (``fused.depthwise_conv``; XLA's CPU depthwise convolution is slow)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        *,
        depthwise: bool,
        bias: bool,
        padding: str,
        dtype: Any,
        rngs: nnx.Rngs,
    ) -> None:
        self.kernel_size, self.stride, self.padding, self.depthwise, self.dtype = (
            kernel,
            stride,
            padding,
            depthwise,
            dtype,
        )
        self.depthwise_mode = "xla"
        shape = (kernel, kernel, 1 if depthwise else cin, cout)
        # placeholder values: every model starts from spec.init (build.from_spec loads it)
        self.kernel = nnx.Param(jnp.zeros(shape, jnp.float32))
        self.bias = nnx.Param(jnp.zeros((cout,), jnp.float32)) if bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        k, s = self.kernel_size, self.stride
        padding = (pads(self.padding, x.shape[1], k, s), pads(self.padding, x.shape[2], k, s))
        kernel = self.kernel.value.astype(self.dtype or x.dtype)
        x = x.astype(kernel.dtype)
        out_hw = (output_size(x.shape[1], s), output_size(x.shape[2], s))
        if k == 1 and s == 1 and not self.depthwise:  # XLA:CPU differentiates dots faster than convs,
            # and 2-D dots faster than 4-D ones (V2-S 64 -> 256 at 24 px, forward + backward: 3.0 vs 8.0 ms)
            y = (x.reshape(-1, x.shape[-1]) @ kernel[0, 0]).reshape(*x.shape[:-1], kernel.shape[-1])
        elif self.depthwise and self.depthwise_mode == "shifted" and k > 1:
            y = fused.depthwise_conv(x, kernel, s, padding, out_hw)
        elif not self.depthwise:
            y = fused.dense_conv(x, kernel, s, padding, out_hw)
        else:
            y = lax.conv_general_dilated(
                x,
                kernel,
                (s, s),
                padding,
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=x.shape[-1],
            )
        return y + self.bias.value.astype(y.dtype) if self.bias is not None else y


class BatchNorm(nnx.Module):
    """Batch normalisation fused with the activation that follows it (``None``: none), as
    ``nnx.BatchNorm`` with ``use_fast_variance=False`` computes it (flax momentum = the spec's
    decay, biased variance in the running average) but with a hand-written gradient
    (``fused.batch_norm_act``). ``model.eval()`` / ``model.train()`` switch ``use_running_average``."""

    def __init__(
        self,
        features: int,
        *,
        momentum: float,
        epsilon: float,
        activation: str | None,
        dtype: Any,
        rngs: nnx.Rngs,
    ) -> None:
        rngs.params(), rngs.params()  # nnx.BatchNorm draws two keys: a seed keeps building the same network
        self.mean = nnx.BatchStat(jnp.zeros((features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((features,), jnp.float32))
        self.scale = nnx.Param(jnp.ones((features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((features,), jnp.float32))
        self.momentum, self.epsilon, self.activation, self.dtype = momentum, epsilon, activation, dtype
        self.use_running_average = False

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype or x.dtype)
        if self.use_running_average:
            scale = lax.rsqrt(self.var[...] + self.epsilon) * self.scale[...]
            z = (x.astype(fused.wide(x.dtype)) - self.mean[...]) * scale + self.bias[...]
            return fused.ACTIVATIONS[self.activation][0](z).astype(x.dtype)
        y, mean, var = fused.batch_norm_act(x, self.scale[...], self.bias[...], self.epsilon, self.activation)
        m = self.momentum
        self.mean[...] = lax.stop_gradient(m * self.mean[...] + (1 - m) * mean)
        self.var[...] = lax.stop_gradient(m * self.var[...] + (1 - m) * var)
        return y


class ConvBN(nnx.Module):
    """Conv (no bias) -> BatchNorm -> optional activation (applied inside ``BatchNorm``)."""

    def __init__(self, conv: ConvSpec, ms: ModelSpec, *, dtype: Any, rngs: nnx.Rngs) -> None:
        self.conv = Conv(
            conv.in_channels,
            conv.out_channels,
            conv.kernel,
            conv.stride,
            depthwise=conv.depthwise,
            bias=False,
            padding=ms.padding,
            dtype=dtype,
            rngs=rngs,
        )
        self.bn = BatchNorm(
            conv.out_channels,
            momentum=ms.bn_decay,
            epsilon=ms.bn_eps,
            activation=ms.activation if conv.act else None,
            dtype=dtype,
            rngs=rngs,
        )  # flax momentum = decay

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.bn(self.conv(x))


class SqueezeExcite(nnx.Module):
    """Global mean -> 1x1 conv -> act -> 1x1 conv -> gate -> scale the input."""

    def __init__(self, se: SESpec, ms: ModelSpec, *, dtype: Any, rngs: nnx.Rngs) -> None:
        common = {"depthwise": False, "bias": True, "padding": ms.padding, "dtype": dtype, "rngs": rngs}
        self.reduce = Conv(se.channels, se.reduced_channels, 1, 1, **common)
        self.expand = Conv(se.reduced_channels, se.channels, 1, 1, **common)
        self.act, self.gate = ms.se_activation, ms.se_gate

    def __call__(self, x: jax.Array) -> jax.Array:
        s = jnp.mean(x, axis=(1, 2), keepdims=True)
        return x * GATES[self.gate](self.expand(ACTIVATIONS[self.act](self.reduce(s))))


class DropPath(nnx.Module):
    """Per-sample stochastic depth in training (survivors scaled by 1 / (1 - rate))."""

    def __init__(self, rate: float, *, rngs: nnx.Rngs) -> None:
        self.rate, self.deterministic, self.rngs = rate, False, rngs

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.deterministic or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = jax.random.bernoulli(self.rngs.dropout(), keep, (x.shape[0], 1, 1, 1))
        return jnp.where(mask, x / keep, jnp.zeros_like(x))


class Block(nnx.Module):
    """expand? -> dw? -> se? -> project, plus the residual (with drop-path) when the spec says so."""

    def __init__(self, block: BlockSpec, ms: ModelSpec, *, dtype: Any, rngs: nnx.Rngs) -> None:
        self.residual = block.residual
        self.expand = ConvBN(block.expand, ms, dtype=dtype, rngs=rngs) if block.expand else None
        self.dw = ConvBN(block.dw, ms, dtype=dtype, rngs=rngs) if block.dw else None
        self.se = SqueezeExcite(block.se, ms, dtype=dtype, rngs=rngs) if block.se else None
        self.project = ConvBN(block.project, ms, dtype=dtype, rngs=rngs)
        self.roles = tuple(role for role, _ in block.layers)  # the spec's layer order
        self.drop_path = DropPath(block.drop_path_rate, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        for role in self.roles:
            h = getattr(self, role)(h)
        return x + self.drop_path(h) if self.residual else h


class MBConv(Block):
    """Inverted residual: 1x1 expand, depthwise k x k, SE, 1x1 project (V1; V2 stages 4+)."""


class FusedMBConv(Block):
    """Fused inverted residual: k x k expand (or a single k x k conv when e = 1), SE?, 1x1 project."""


BLOCK_CLASSES = {"mbconv": MBConv, "fused_mbconv": FusedMBConv}


class EfficientNet(nnx.Module):
    """NHWC float input (preprocessed as ``spec.preprocessing`` says) -> logits.

    ``model.eval()`` / ``model.train()`` as NNX users expect. ``forward_intermediates(x)`` returns
    every named intermediate (``stem``, ``blocks.{i}``, ``head``, ``pre_logits``, ``logits``).
    """

    def __init__(
        self,
        ms: ModelSpec,
        *,
        include_top: bool = True,
        pooling: Pooling = None,
        dtype: Any = None,
        rngs: nnx.Rngs,
    ) -> None:
        self.spec, self.include_top, self.pooling = ms, include_top, pooling
        self.stem = ConvBN(ms.stem, ms, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List([BLOCK_CLASSES[b.kind](b, ms, dtype=dtype, rngs=rngs) for b in ms.blocks])
        self.head = ConvBN(ms.head, ms, dtype=dtype, rngs=rngs)
        self.dropout = nnx.Dropout(ms.dropout, rngs=rngs)
        self.classifier = (
            nnx.Linear(ms.features_channels, ms.num_classes, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
            if include_top
            else None
        )
        self.set_depthwise_mode("auto")

    def set_regularization(
        self, *, dropout: float | None = None, drop_path_rate: float | None = None
    ) -> None:
        """Change the dropout rate and/or the model-level drop-path rate without rebuilding."""
        if dropout is not None:
            self.dropout.rate = float(dropout)
        if drop_path_rate is not None:
            for block, rate in zip(self.blocks, self.spec.drop_path_rates(drop_path_rate), strict=True):
                block.drop_path.rate = rate

    def set_depthwise_mode(self, mode: str) -> None:
        """``"xla"`` (lax.conv), ``"shifted"`` (``fused.depthwise_conv``: k*k fused multiplies; on this
        2-core CPU XLA's depthwise conv made the V2-B0 training step 2.4x slower) or ``"auto"`` (the default:
        shifted on CPU, xla on accelerators, where cuDNN's depthwise kernels are fast)."""
        if mode == "auto":
            mode = "shifted" if jax.default_backend() == "cpu" else "xla"
        if mode not in DEPTHWISE_MODES:
            raise ValueError(f"unknown depthwise mode {mode!r}; known: auto, {', '.join(DEPTHWISE_MODES)}")
        for _, module in nnx.iter_graph(self):
            if isinstance(module, Conv):
                module.depthwise_mode = mode

    def _check_input(self, x: jax.Array) -> None:
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(
                f"{self.spec.name}: expected an NHWC batch with 3 channels, got shape {tuple(x.shape)}"
            )

    def forward_intermediates(self, x: jax.Array) -> dict[str, jax.Array]:
        self._check_input(x)
        out: dict[str, jax.Array] = {}
        h = out["stem"] = self.stem(x)
        for spec_block, block in zip(self.spec.blocks, self.blocks, strict=True):
            h = out[spec_block.name] = block(h)
        h = out["head"] = self.head(h)
        out["pre_logits"] = jnp.mean(h, axis=(1, 2))
        if self.classifier is not None:
            out["logits"] = self.classifier(self.dropout(out["pre_logits"]))
        return out

    def __call__(self, x: jax.Array) -> jax.Array:
        self._check_input(x)
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        h = self.head(h)
        if self.classifier is not None:
            return self.classifier(self.dropout(jnp.mean(h, axis=(1, 2))))
        if self.pooling == "avg":
            return jnp.mean(h, axis=(1, 2))
        if self.pooling == "max":
            return jnp.max(h, axis=(1, 2))
        return h
