"""PyTorch modules built from a resolved ModelSpec. No architecture arithmetic happens here: every
channel count, stride, residual flag and drop-path rate comes from the spec.

Classes, in the same order and with the same attribute names in every backend:
``ConvBN``, ``SqueezeExcite``, ``DropPath``, ``MBConv`` / ``FusedMBConv`` (one ``Block`` body: the
spec says which convs a block holds), ``EfficientNet``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from effnet.spec import BlockSpec, ConvSpec, ModelSpec, SESpec
from effnet.spec.padding import static_pads, tf_same_pads

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU}
# the same activations applied in place, for inference (see ConvBN.forward)
INPLACE_ACTIVATIONS = {"silu": F.silu, "relu": F.relu}
GATES = {"sigmoid": nn.Sigmoid}
Pooling = Literal["avg", "max"] | None


class ConvBN(nn.Module):
    """Conv (no bias) -> BatchNorm -> optional activation, with the spec's padding."""

    def __init__(self, conv: ConvSpec, ms: ModelSpec) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding_mode = conv.kernel, conv.stride, ms.padding
        static = static_pads(ms.padding, conv.kernel, conv.stride)
        self.static_padding = static is not None and static[0] == static[1]
        self.conv = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel,
            conv.stride,
            padding=static[0] if self.static_padding else 0,
            groups=conv.in_channels if conv.depthwise else 1,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(
            conv.out_channels, eps=ms.bn_eps, momentum=1.0 - ms.bn_decay
        )  # torch momentum = 1 - decay
        self.act = ACTIVATIONS[ms.activation]() if conv.act else nn.Identity()
        self._act_ = INPLACE_ACTIVATIONS[ms.activation] if conv.act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.static_padding:  # TF SAME: the extra pixel goes bottom/right, per input size
            top, bottom = tf_same_pads(x.shape[-2], self.kernel, self.stride)
            left, right = tf_same_pads(x.shape[-1], self.kernel, self.stride)
            x = F.pad(x, (left, right, top, bottom))
        h = self.bn(self.conv(x))
        if self._act_ is not None and not torch.is_grad_enabled():
            # inference: the same values written over the BN output (a fresh tensor of ours), not into a
            # new one, as torchvision does (profiled, V2-S channels_last on CPU: out-of-place SiLU took
            # 1.3-1.9x the time of in-place, and the residual add ~2x)
            return self._act_(h, inplace=True)
        return self.act(h)


class SqueezeExcite(nn.Module):
    """Global mean -> 1x1 conv -> act -> 1x1 conv -> gate -> scale the input."""

    def __init__(self, se: SESpec, ms: ModelSpec) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(se.channels, se.reduced_channels, 1)
        self.act = ACTIVATIONS[ms.se_activation]()
        self.expand = nn.Conv2d(se.reduced_channels, se.channels, 1)
        self.gate = GATES[ms.se_gate]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class DropPath(nn.Module):
    """Per-sample stochastic depth in training: drop the branch with probability ``rate`` and scale
    survivors by 1 / (1 - rate). ``rate`` is a plain attribute, changeable on a built model."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"


class Block(nn.Module):
    """expand? -> dw? -> se? -> project, plus the residual (with drop-path) when the spec says so."""

    def __init__(self, block: BlockSpec, ms: ModelSpec) -> None:
        super().__init__()
        self.residual = block.residual
        self.expand = ConvBN(block.expand, ms) if block.expand else None
        self.dw = ConvBN(block.dw, ms) if block.dw else None
        self.se = SqueezeExcite(block.se, ms) if block.se else None
        self.project = ConvBN(block.project, ms)
        self.roles = tuple(role for role, _ in block.layers)  # the spec's layer order
        self.drop_path = DropPath(block.drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for role in self.roles:
            h = getattr(self, role)(h)
        if not self.residual:
            return h
        h = self.drop_path(h)
        if not torch.is_grad_enabled() and h.dtype == x.dtype:
            return h.add_(x)  # inference: h is the project conv's fresh output; h + x == x + h exactly
        return x + h


class MBConv(Block):
    """Inverted residual: 1x1 expand, depthwise k x k, SE, 1x1 project (V1; V2 stages 4+)."""


class FusedMBConv(Block):
    """Fused inverted residual: k x k expand (or a single k x k conv when e = 1), SE?, 1x1 project."""


BLOCK_CLASSES = {"mbconv": MBConv, "fused_mbconv": FusedMBConv}


class EfficientNet(nn.Module):
    """NCHW float input (preprocessed as ``spec.preprocessing`` says) -> logits.

    ``forward_intermediates(x)`` returns every named intermediate (``stem``, ``blocks.{i}``, ``head``,
    ``pre_logits``, ``logits``) as NCHW / (N, C) tensors. With ``include_top=False`` the model is a
    feature extractor returning the head's feature map, or pooled features with ``pooling``.
    """

    def __init__(self, ms: ModelSpec, *, include_top: bool = True, pooling: Pooling = None) -> None:
        super().__init__()
        self.spec, self.include_top, self.pooling = ms, include_top, pooling
        self.stem = ConvBN(ms.stem, ms)
        self.blocks = nn.ModuleList(BLOCK_CLASSES[b.kind](b, ms) for b in ms.blocks)
        self.head = ConvBN(ms.head, ms)
        self.dropout = nn.Dropout(ms.dropout)
        self.classifier = nn.Linear(ms.features_channels, ms.num_classes) if include_top else None

    def set_regularization(
        self, *, dropout: float | None = None, drop_path_rate: float | None = None
    ) -> None:
        """Change the dropout rate and/or the model-level drop-path rate without rebuilding."""
        if dropout is not None:
            self.dropout.p = float(dropout)
        if drop_path_rate is not None:
            for block, rate in zip(self.blocks, self.spec.drop_path_rates(drop_path_rate), strict=True):
                block.drop_path.rate = rate

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"{self.spec.name}: expected an NCHW batch with 3 channels, got shape {tuple(x.shape)}"
            )

    def forward_intermediates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check_input(x)
        out: dict[str, torch.Tensor] = {}
        h = out["stem"] = self.stem(x)
        for spec_block, block in zip(self.spec.blocks, self.blocks, strict=True):
            h = out[spec_block.name] = block(h)
        h = out["head"] = self.head(h)
        out["pre_logits"] = h.mean(dim=(2, 3))
        if self.classifier is not None:
            out["logits"] = self.classifier(self.dropout(out["pre_logits"]))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        h = self.head(self._features(self.stem(x)))
        if self.classifier is not None:
            return self.classifier(self.dropout(h.mean(dim=(2, 3))))
        if self.pooling == "avg":
            return h.mean(dim=(2, 3))
        if self.pooling == "max":
            return h.amax(dim=(2, 3))
        return h

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h)
        return h
