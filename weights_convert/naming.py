"""Where each canonical tensor lives in each format: the name maps, as data plus one small rule each.

A model is a list of *units* (a conv+BN, an SE pair, the classifier), read off the resolved
ModelSpec. A format's namer gives each unit its foreign prefixes; a leaf convention (``formats``)
then names the tensors inside. No architecture is rebuilt here: units come from the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from effnet.spec import BlockSpec, ModelSpec, SESpec

from .errors import WeightsError

UnitKind = Literal["convbn", "se", "dense"]
Role = Literal["stem", "expand", "dw", "se", "project", "head", "classifier"]


@dataclass(frozen=True)
class Unit:
    prefix: str  # canonical prefix: "stem", "blocks.3.dw", "blocks.3.se", "head", "classifier"
    kind: UnitKind
    role: Role
    depthwise: bool = False
    block: BlockSpec | None = None


def units(ms: ModelSpec, *, include_top: bool = True) -> list[Unit]:
    out = [Unit("stem", "convbn", "stem")]
    for b in ms.blocks:
        for role, layer in b.layers:
            if isinstance(layer, SESpec):
                out.append(Unit(layer.name, "se", role, block=b))
            else:
                out.append(Unit(layer.name, "convbn", role, layer.depthwise, b))
    out.append(Unit("head", "convbn", "head"))
    if include_top:
        out.append(Unit("classifier", "dense", "classifier"))
    return out


# A namer maps a unit to its foreign prefixes: convbn -> {"conv", "bn"}, se -> {"reduce", "expand"},
# dense -> {"dense"}.
Namer = Callable[[ModelSpec, Unit], dict[str, str]]


def native_names(ms: ModelSpec, u: Unit) -> dict[str, str]:
    """Our own backends: module paths equal canonical prefixes."""
    if u.kind == "convbn":
        return {"conv": f"{u.prefix}.conv", "bn": f"{u.prefix}.bn"}
    if u.kind == "se":
        return {"reduce": f"{u.prefix}.reduce", "expand": f"{u.prefix}.expand"}
    return {"dense": u.prefix}


def torchvision_names(ms: ModelSpec, u: Unit) -> dict[str, str]:
    """torchvision: features.0 = stem, features.{stage}.{repeat}.block.{k}, features.{S+1} = head,
    classifier.1; k counts the sub-layers the block has, in order expand, dw, se, project (SOURCES §6.2)."""
    if u.role == "stem":
        return {"conv": "features.0.0", "bn": "features.0.1"}
    if u.role == "head":
        last = f"features.{len(ms.stages) + 1}"
        return {"conv": f"{last}.0", "bn": f"{last}.1"}
    if u.role == "classifier":
        return {"dense": "classifier.1"}
    b = u.block
    assert b is not None
    present = [role for role, _ in b.layers]
    p = f"features.{b.stage}.{b.repeat}.block.{present.index(u.role)}"
    if u.kind == "se":
        return {"reduce": f"{p}.fc1", "expand": f"{p}.fc2"}
    return {"conv": f"{p}.0", "bn": f"{p}.1"}


# timm module names per block class (SOURCES §6.3): (kind, has expand conv) -> role -> (conv, bn)
TIMM_BLOCK_LAYERS: dict[tuple[str, bool], dict[str, tuple[str, str]]] = {
    ("mbconv", True): {
        "expand": ("conv_pw", "bn1"),
        "dw": ("conv_dw", "bn2"),
        "project": ("conv_pwl", "bn3"),
    },  # InvertedResidual
    ("mbconv", False): {"dw": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")},  # DepthwiseSeparableConv
    ("fused_mbconv", True): {"expand": ("conv_exp", "bn1"), "project": ("conv_pwl", "bn2")},  # EdgeResidual
    ("fused_mbconv", False): {"project": ("conv", "bn1")},  # ConvBnAct
}


def timm_names(ms: ModelSpec, u: Unit) -> dict[str, str]:
    """timm: conv_stem/bn1, blocks.{stage-1}.{repeat}.<layer>, conv_head/bn2, classifier."""
    fixed = {"stem": ("conv_stem", "bn1"), "head": ("conv_head", "bn2")}
    if u.role in fixed:
        return dict(zip(("conv", "bn"), fixed[u.role], strict=True))
    if u.role == "classifier":
        return {"dense": "classifier"}
    b = u.block
    assert b is not None
    p = f"blocks.{b.stage - 1}.{b.repeat}"
    if u.kind == "se":
        return {"reduce": f"{p}.se.conv_reduce", "expand": f"{p}.se.conv_expand"}
    conv, bn = TIMM_BLOCK_LAYERS[(b.kind, b.expand is not None)][u.role]
    return {"conv": f"{p}.{conv}", "bn": f"{p}.{bn}"}


# impl_tf's .weights.h5 (Keras 3 saving_lib): a layer's variables live at "<attribute path>/vars/<i>";
# list items are named by class in snake case with a per-class counter ("blocks/mb_conv_3"), and a
# subclassed Model's ``layers`` list is walked among its attributes in alphabetical order, so the stem
# (attribute "stem" sorts after "layers") is stored as "layers/conv_bn". Checked against
# ``model.save_weights`` in tests/tf.
KERAS_BLOCK_CLASSES = {"mbconv": "mb_conv", "fused_mbconv": "fused_mb_conv"}


def keras_names(ms: ModelSpec, u: Unit) -> dict[str, str]:
    """impl_tf (Keras 3): h5 group paths of the model's layers."""
    if u.role == "classifier":
        return {"dense": "classifier"}
    if u.role in ("stem", "head"):
        p = "layers/conv_bn" if u.role == "stem" else "head"
    else:
        b = u.block
        assert b is not None
        n = sum(1 for other in ms.blocks[: b.index] if other.kind == b.kind)
        p = f"blocks/{KERAS_BLOCK_CLASSES[b.kind]}{f'_{n}' if n else ''}/{u.role}"
    if u.kind == "se":
        return {"reduce": f"{p}/reduce", "expand": f"{p}/expand"}
    return {"conv": f"{p}/conv", "bn": f"{p}/bn"}


# keras.applications layer names (SOURCES §6.4): block{stage}{a, b, ...}_..., V1 "dwconv", V2 "dwconv2".
KERAS_APPLICATIONS_DW = {"efficientnet-v1": "dwconv", "efficientnet-v2": "dwconv2"}


def keras_applications_names(ms: ModelSpec, u: Unit) -> dict[str, str]:
    """keras.applications EfficientNet* / EfficientNetV2*: stem_conv/stem_bn, block1a_project_conv,
    block4a_se_reduce, ..., top_conv/top_bn, predictions."""
    fixed = {"stem": ("stem_conv", "stem_bn"), "head": ("top_conv", "top_bn")}
    if u.role in fixed:
        return dict(zip(("conv", "bn"), fixed[u.role], strict=True))
    if u.role == "classifier":
        return {"dense": "predictions"}
    b = u.block
    assert b is not None
    if b.repeat >= 26:
        raise WeightsError(f"keras.applications names repeats a..z; {b.name} is repeat {b.repeat + 1}")
    p = f"block{b.stage}{chr(ord('a') + b.repeat)}_"
    if u.kind == "se":
        return {"reduce": f"{p}se_reduce", "expand": f"{p}se_expand"}
    if u.role == "dw":
        return {"conv": p + KERAS_APPLICATIONS_DW.get(ms.family, "dwconv"), "bn": f"{p}bn"}
    return {"conv": f"{p}{u.role}_conv", "bn": f"{p}{u.role}_bn"}
