"""A resolved ModelSpec as a JSON-able dict and back, for Keras ``get_config`` / ``from_config``
(``.keras`` files). A plain field-by-field copy of the frozen dataclasses in ``spec.model_spec``:
nothing is re-resolved or recomputed, so a custom family or overrides survive a save/load."""

from __future__ import annotations

import dataclasses
from typing import Any

from effnet.spec import BlockSpec, ConvSpec, ImageSize, ModelSpec, Preprocessing, SESpec


def spec_to_config(ms: ModelSpec) -> dict[str, Any]:
    return dataclasses.asdict(ms)


def _conv(d: dict[str, Any] | None) -> ConvSpec | None:
    return ConvSpec(**d) if d is not None else None


def _block(d: dict[str, Any]) -> BlockSpec:
    se = SESpec(**d["se"]) if d["se"] is not None else None
    return BlockSpec(
        **{**d, "expand": _conv(d["expand"]), "dw": _conv(d["dw"]), "se": se, "project": _conv(d["project"])}
    )


def spec_from_config(d: dict[str, Any]) -> ModelSpec:
    pre = d["preprocessing"]
    return ModelSpec(
        **{
            **d,
            "stem": _conv(d["stem"]),
            "blocks": tuple(_block(b) for b in d["blocks"]),
            "head": _conv(d["head"]),
            "preprocessing": Preprocessing(tuple(pre["scale"]), tuple(pre["offset"])),
            "image_size": ImageSize(**d["image_size"]),
            "citations": tuple(tuple(c) for c in d["citations"]),
        }
    )
