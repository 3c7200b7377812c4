"""Golden vectors: small checked-in cases (drawn tiny architectures and V2-B0 at a small size) with
the numpy reference's intermediates and logits, so a single-backend session checks against the spec
with no other framework installed.

Weights are not stored: they are ``spec.reference.random_weights(ms, seed)``; a checksum of them is,
so a change in numpy's random stream shows up as a clear failure, not as a wrong comparison.

Regenerate with ``python -m conformance.golden`` (only when the spec deliberately changes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from effnet import spec
from effnet.spec import ModelSpec, reference

from . import architectures

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
CASES_FILE = GOLDEN_DIR / "cases.json"


@dataclass(frozen=True)
class Case:
    id: str
    source: dict[str, Any]  # {"model": name, "overrides": {...}} or {"document": family doc}
    seed: int
    input_shape: tuple[int, int, int, int]
    weights_checksum: float
    spec_hash: str

    def model_spec(self) -> ModelSpec:
        if "document" in self.source:
            return architectures.resolve(self.source["document"])
        return spec.resolve(self.source["model"], **self.source.get("overrides", {}))

    def weights(self) -> dict[str, np.ndarray]:
        return reference.random_weights(self.model_spec(), self.seed)

    def input(self) -> np.ndarray:
        return np.random.default_rng(self.seed + 1000).standard_normal(self.input_shape).astype(np.float32)

    def expected(self) -> dict[str, np.ndarray]:
        with np.load(GOLDEN_DIR / f"{self.id}.npz") as data:
            return {k: data[k] for k in data.files if k != "input"}


def checksum(weights: dict[str, np.ndarray]) -> float:
    return float(sum(np.abs(v.astype(np.float64)).sum() for v in weights.values()))


def load_cases() -> list[Case]:
    raw = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return [
        Case(c["id"], c["source"], c["seed"], tuple(c["input_shape"]), c["weights_checksum"], c["spec_hash"])
        for c in raw
    ]


def _definitions() -> list[tuple[str, dict[str, Any], int, tuple[int, int, int, int]]]:
    out = []
    for seed in (11, 12, 13):
        doc = architectures.sample(np.random.default_rng(seed))
        out.append((f"drawn-{seed}", {"document": doc}, seed, (2, 23, 19, 3)))
    out.append(
        ("efficientnetv2-b0-35x29", {"model": "efficientnetv2-b0", "overrides": {}}, 7, (1, 35, 29, 3))
    )
    return out


def regenerate() -> list[Case]:
    GOLDEN_DIR.mkdir(exist_ok=True)
    cases = []
    for case_id, source, seed, shape in _definitions():
        probe = Case(case_id, source, seed, shape, 0.0, "")
        ms, weights, x = probe.model_spec(), probe.weights(), probe.input()
        out = reference.forward(ms, weights, x).intermediates
        np.savez_compressed(
            GOLDEN_DIR / f"{case_id}.npz", input=x, **{k: v.astype(np.float32) for k, v in out.items()}
        )
        cases.append(Case(case_id, source, seed, shape, checksum(weights), ms.spec_hash))
    payload = [c.__dict__ | {"input_shape": list(c.input_shape)} for c in cases]
    CASES_FILE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return cases


if __name__ == "__main__":
    for c in regenerate():
        print(f"wrote {c.id}: input {c.input_shape}, spec {c.spec_hash[:12]}")
