"""The canonical weight format: names, shapes and layouts of every tensor of a resolved model.

Names are the ``ConvSpec``/``SESpec`` names of the ModelSpec plus a leaf:

====================================  ==========================  =====================
name                                  shape (channels-last)       kind
====================================  ==========================  =====================
``{conv}.conv.kernel``                (kh, kw, in, out)           param
``{conv}.conv.kernel`` (depthwise)    (kh, kw, 1, channels)       param
``{conv}.bn.scale`` / ``.bn.bias``    (out,)                      param
``{conv}.bn.mean`` / ``.bn.var``      (out,)                      bn_stat
``{se}.reduce.kernel``                (1, 1, channels, reduced)   param
``{se}.reduce.bias``                  (reduced,)                  param
``{se}.expand.kernel``                (1, 1, reduced, channels)   param
``{se}.expand.bias``                  (channels,)                 param
``classifier.kernel``                 (features, classes)         param
``classifier.bias``                   (classes,)                  param
====================================  ==========================  =====================

``{conv}`` is ``stem``, ``blocks.{i}.expand``, ``blocks.{i}.dw``, ``blocks.{i}.project`` or ``head``.
Kernels are HWIO with I the input channels *per group* (so depthwise is (kh, kw, 1, C), as in Flax).
``bn.var`` is the biased (population) running variance. Files are safetensors, float32, with
metadata (see ``weights_convert.canonical_io``). The classifier is absent when ``include_top=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .model_spec import ConvSpec, ModelSpec, SESpec

TensorKind = Literal["param", "bn_stat"]
BN_PARAM_LEAVES = ("scale", "bias")
BN_STAT_LEAVES = ("mean", "var")


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    kind: TensorKind
    role: Literal["conv", "depthwise", "bn", "se_conv", "bias", "dense"]


def conv_tensors(conv: ConvSpec) -> dict[str, TensorInfo]:
    k = conv.kernel
    if conv.depthwise:
        kernel = TensorInfo((k, k, 1, conv.out_channels), "param", "depthwise")
    else:
        kernel = TensorInfo((k, k, conv.in_channels, conv.out_channels), "param", "conv")
    out = {f"{conv.name}.conv.kernel": kernel}
    for leaf in BN_PARAM_LEAVES:
        out[f"{conv.name}.bn.{leaf}"] = TensorInfo((conv.out_channels,), "param", "bn")
    for leaf in BN_STAT_LEAVES:
        out[f"{conv.name}.bn.{leaf}"] = TensorInfo((conv.out_channels,), "bn_stat", "bn")
    return out


def se_tensors(se: SESpec) -> dict[str, TensorInfo]:
    c, r = se.channels, se.reduced_channels
    return {
        f"{se.name}.reduce.kernel": TensorInfo((1, 1, c, r), "param", "se_conv"),
        f"{se.name}.reduce.bias": TensorInfo((r,), "param", "bias"),
        f"{se.name}.expand.kernel": TensorInfo((1, 1, r, c), "param", "se_conv"),
        f"{se.name}.expand.bias": TensorInfo((c,), "param", "bias"),
    }


def tensors(ms: ModelSpec, *, include_top: bool = True) -> dict[str, TensorInfo]:
    """Every canonical tensor of ``ms`` in network order."""
    out = conv_tensors(ms.stem)
    for block in ms.blocks:
        for _, layer in block.layers:
            out.update(se_tensors(layer) if isinstance(layer, SESpec) else conv_tensors(layer))
    out.update(conv_tensors(ms.head))
    if include_top:
        out["classifier.kernel"] = TensorInfo((ms.features_channels, ms.num_classes), "param", "dense")
        out["classifier.bias"] = TensorInfo((ms.num_classes,), "param", "bias")
    return out


def shapes(ms: ModelSpec, *, include_top: bool = True) -> dict[str, tuple[int, ...]]:
    return {name: info.shape for name, info in tensors(ms, include_top=include_top).items()}


@dataclass(frozen=True)
class Mismatch:
    """How a set of named tensors differs from the expected names and shapes (the one check every
    weight reader, the reference and the conformance round trip use)."""

    missing: list[str]
    unexpected: list[str]
    misshaped: list[str]  # "name (got shape) (expected shape)"

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshaped)

    def describe(self, shown: int = 25) -> str:
        def listing(label: str, items: list[str]) -> str:
            more = f" ... and {len(items) - shown} more" if len(items) > shown else ""
            return f"{len(items)} {label}: {', '.join(items[:shown])}{more}"

        kinds = (("missing", self.missing), ("unexpected", self.unexpected), ("misshaped", self.misshaped))
        return "; ".join(listing(label, items) for label, items in kinds if items)


def mismatch(
    expected: Mapping[str, tuple[int, ...]], got: Mapping[str, tuple[int, ...]], *, ignore: Iterable[str] = ()
) -> Mismatch:
    ignored = set(ignore)
    return Mismatch(
        missing=[k for k in expected if k not in got],
        unexpected=[k for k in got if k not in expected and k not in ignored],
        misshaped=[
            f"{k} {tuple(got[k])} (expected {tuple(expected[k])})"
            for k in expected
            if k in got and tuple(got[k]) != tuple(expected[k])
        ],
    )


def check(ms: ModelSpec, weights: Mapping[str, object], *, include_top: bool = True) -> Mismatch:
    """How ``weights`` (name -> array) differs from ``ms``'s canonical tensors."""
    return mismatch(
        shapes(ms, include_top=include_top), {k: tuple(getattr(v, "shape", ())) for k, v in weights.items()}
    )
