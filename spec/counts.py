"""Framework-free counts of a resolved model.

- ``params``: trainable scalars: conv kernels, BN scale and bias, SE conv kernels and biases,
  classifier kernel and bias. Equals torchvision ``num_params``, keras ``trainable_weights``.
- ``bn_stats``: BN running mean and variance scalars (not trainable). params + bn_stats equals
  keras V2 ``count_params()`` and the automl test totals (SOURCES §4.1).
- ``macs``: multiply-accumulates at a given square image size: every conv
  (kh*kw*in_per_group*out per output pixel), the SE 1x1 convs and the classifier, plus one per
  element for each eval-mode BatchNorm (a fused scale-and-shift) and for the SE gate multiply.
  Activations, pooling and residual adds are not counted. The papers' "FLOPs" are MACs (SOURCES §4.2);
  ``conv_macs`` gives the conv/dense part alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import canonical
from .model_spec import ConvSpec, ModelSpec
from .padding import output_size


@dataclass(frozen=True)
class Counts:
    params: int
    bn_stats: int


def count(ms: ModelSpec, *, include_top: bool = True) -> Counts:
    params = bn_stats = 0
    for info in canonical.tensors(ms, include_top=include_top).values():
        n = 1
        for d in info.shape:
            n *= d
        if info.kind == "param":
            params += n
        else:
            bn_stats += n
    return Counts(params, bn_stats)


def _conv_bn(conv: ConvSpec, size: int, with_bn: bool) -> tuple[int, int]:
    """(macs, output size) of one conv (+ its BN) on a size x size input."""
    out = output_size(size, conv.stride)
    per_pixel = conv.kernel * conv.kernel * (1 if conv.depthwise else conv.in_channels)
    per_pixel += 1 if with_bn else 0
    return out * out * per_pixel * conv.out_channels, out


def macs(ms: ModelSpec, image_size: int, *, include_top: bool = True, conv_only: bool = False) -> int:
    """Multiply-accumulates of one forward pass on an ``image_size`` square image."""
    with_bn = not conv_only
    total, size = _conv_bn(ms.stem, image_size, with_bn)
    for block in ms.blocks:
        for conv in (block.expand, block.dw):
            if conv is not None:
                m, size = _conv_bn(conv, size, with_bn)
                total += m
        if block.se is not None:
            total += 2 * block.se.channels * block.se.reduced_channels
            total += 0 if conv_only else size * size * block.se.channels
        m, size = _conv_bn(block.project, size, with_bn)
        total += m
    m, size = _conv_bn(ms.head, size, with_bn)
    total += m
    if include_top:
        total += ms.features_channels * ms.num_classes
    return total


def conv_macs(ms: ModelSpec, image_size: int, *, include_top: bool = True) -> int:
    """Conv and dense multiply-accumulates only."""
    return macs(ms, image_size, include_top=include_top, conv_only=True)
