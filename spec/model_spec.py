"""The resolved, frozen description of one model: what every backend builds and nothing more.

All architecture arithmetic (channel rounding, repeat rounding, strides, residuals, SE widths,
drop-path rates) has been done by :func:`spec.resolve`; backends only turn these records into
layers. Canonical weight names are the ``name`` fields below plus a leaf (see ``spec.canonical``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["mbconv", "fused_mbconv"]
LayerRole = Literal["expand", "dw", "se", "project"]  # a block's layers, in network order
Padding = Literal["tf_same", "symmetric"]
Activation = Literal["silu", "relu"]


@dataclass(frozen=True)
class ConvSpec:
    """A bias-free conv followed by BatchNorm and, if ``act``, the model's activation."""

    name: str  # canonical prefix, e.g. "stem", "blocks.3.dw", "head"
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    depthwise: bool  # groups == in_channels == out_channels
    act: bool


@dataclass(frozen=True)
class SESpec:
    """Squeeze-excite: global mean -> 1x1 conv (bias) -> act -> 1x1 conv (bias) -> gate -> multiply."""

    name: str  # "blocks.3.se"
    channels: int  # the channels it gates (the block's mid channels)
    reduced_channels: int


@dataclass(frozen=True)
class BlockSpec:
    """One block instance. The convs it holds, in order: expand?, dw?, se?, project.

    A fused_mbconv block has no ``dw``; with expand ratio 1 it is a single k x k ``project`` conv
    with activation (spec/SOURCES.md §3.2). An mbconv block with expand ratio 1 has no ``expand`` conv.
    """

    name: str  # "blocks.{index}"
    index: int  # 0-based over the whole network
    stage: int  # 1-based, as in the papers' tables
    repeat: int  # 0-based within the stage
    kind: BlockKind
    kernel: int
    stride: int
    expand_ratio: float
    se_ratio: float
    in_channels: int
    mid_channels: int
    out_channels: int
    se_channels: int  # 0 when the block has no SE
    residual: bool
    drop_path_rate: float  # applied on the residual branch only
    drop_path_fraction: float  # drop_path_rate / the model's rate: index / denominator
    expand: ConvSpec | None
    dw: ConvSpec | None
    se: SESpec | None
    project: ConvSpec

    @property
    def layers(self) -> tuple[tuple[LayerRole, ConvSpec | SESpec], ...]:
        """The block's layers in network order, each with its role: expand?, dw?, se?, project. Every
        walker over a block (canonical names, the reference, weight namers, backends) uses this list."""
        roles: tuple[tuple[LayerRole, ConvSpec | SESpec | None], ...] = (
            ("expand", self.expand),
            ("dw", self.dw),
            ("se", self.se),
            ("project", self.project),
        )
        return tuple((role, layer) for role, layer in roles if layer is not None)

    @property
    def convs(self) -> tuple[ConvSpec, ...]:
        return tuple(c for c in (self.expand, self.dw, self.project) if c is not None)


@dataclass(frozen=True)
class Preprocessing:
    """pixels in [0, 255] -> network input: ``x * scale + offset`` per RGB channel."""

    scale: tuple[float, float, float]
    offset: tuple[float, float, float]


@dataclass(frozen=True)
class ImageSize:
    train: int
    eval: int


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    profile: str
    spec_version: str
    spec_hash: str  # sha256 of the resolved config: identifies exactly this architecture
    width: float
    depth: float
    stem: ConvSpec
    blocks: tuple[BlockSpec, ...]
    head: ConvSpec
    num_classes: int
    dropout: float  # before the classifier
    drop_path_rate: float  # the rate the per-block rates were scaled from
    activation: Activation
    se_activation: Activation
    se_gate: Literal["sigmoid"]
    bn_eps: float
    bn_decay: float  # weight on the old running value (TF/Keras/Flax); torch momentum = 1 - decay
    padding: Padding
    preprocessing: Preprocessing
    image_size: ImageSize
    citations: tuple[tuple[str, str], ...]  # (field, source)

    @property
    def stages(self) -> tuple[tuple[BlockSpec, ...], ...]:
        """Blocks grouped by stage, in order."""
        out: dict[int, list[BlockSpec]] = {}
        for block in self.blocks:
            out.setdefault(block.stage, []).append(block)
        return tuple(tuple(v) for _, v in sorted(out.items()))

    def drop_path_rates(self, rate: float | None = None) -> tuple[float, ...]:
        """Per-block drop-path rates for model-level ``rate`` (default: the resolved one)."""
        rate = self.drop_path_rate if rate is None else rate
        return tuple(rate * b.drop_path_fraction for b in self.blocks)

    @property
    def features_channels(self) -> int:
        """Channels of the pre-logits features (the head conv's output)."""
        return self.head.out_channels
