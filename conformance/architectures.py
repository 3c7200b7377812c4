"""Small valid architectures for the suite: the choice table and a seeded sampler over it (golden
vectors; ``strategies`` draws from the same table). Each is a family document the spec validates."""

from __future__ import annotations

from typing import Any

import numpy as np

from effnet import spec
from effnet.spec import ModelSpec
from effnet.spec.registry import family_from_document

CHOICES: dict[str, tuple[Any, ...]] = {
    "stages": (1, 2, 3),
    "kind": ("mbconv", "fused_mbconv"),
    "repeats": (1, 2),
    "kernel": (1, 3, 5),
    "stride": (1, 2),
    "expand": (1, 4, 6),
    "se": (0, 0.25),
    "channels": (8, 16, 24, 32),
    "padding": ("tf_same", "symmetric"),
    "bn_eps": (1e-3, 1e-5, 1e-2),
    "bn_decay": (0.9, 0.99),
    "head": (16, 32, 48),
    "classes": (3, 5, 10),
}
NAME = "drawn"


def document(choice: dict[str, Any]) -> dict[str, Any]:
    """A complete family document from one set of choices (dropout and drop-path 0, so train-mode
    results are deterministic)."""
    cite = "conformance suite: drawn architecture"
    return {
        "family": "conformance-drawn",
        "title": "drawn architecture",
        "cite": cite,
        "defaults": {
            "rounding": {"divisor": 8, "min_channels": 8, "ten_percent_rule": False, "cite": cite},
            "activation": "silu",
            "se": {"activation": "silu", "gate": "sigmoid", "width_base": "block_in", "cite": cite},
            "bn": {"eps": choice["bn_eps"], "decay": choice["bn_decay"], "cite": cite},
            "padding": choice["padding"],
            "stem": {"kernel": 3, "stride": 2, "cite": cite},
            "head": {"channels": choice["head"], "scaled": False, "cite": cite},
            "drop_path": {"rate": 0.0, "denominator": "blocks", "cite": cite},
            "preprocessing": {"scale": 1 / 128, "offset": -1.0, "cite": cite},
            "num_classes": choice["classes"],
        },
        "bases": {"drawn": {"cite": cite, "stem_channels": choice["stem"], "stages": choice["stage_rows"]}},
        "variants": {
            NAME: {
                "base": "drawn",
                "width": 1.0,
                "depth": 1.0,
                "image_size": {"train": 32, "eval": 32},
                "dropout": 0.0,
                "cite": cite,
            }
        },
    }


def resolve(doc: dict[str, Any]) -> ModelSpec:
    return spec.resolve(NAME, file=family_from_document(doc, "<drawn architecture>"))


def stage_row(pick: Any) -> dict[str, Any]:
    return {k: pick(k) for k in ("kind", "repeats", "kernel", "stride", "expand", "channels", "se")}


def sample(rng: np.random.Generator) -> dict[str, Any]:
    """The same distribution, from a seeded numpy generator (golden vectors)."""

    def pick(key: str) -> Any:
        values = CHOICES[key]
        return values[int(rng.integers(len(values)))]

    choice = {k: pick(k) for k in ("padding", "bn_eps", "bn_decay", "head", "classes")}
    choice["stem"] = pick("channels")
    choice["stage_rows"] = [stage_row(pick) for _ in range(pick("stages"))]
    return document(choice)
