"""The conformance adapter for the spec's numpy reference: an inference-only backend (eval and
train-mode forward with running statistics; no gradient step). The suite compares every other
implementation against this same code, so running it through the adapter protocol checks the
protocol, not the numbers; it is also the smallest worked example of an adapter."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from effnet.spec import ModelSpec, reference
from effnet.spec.init import initial_weights

from ..protocol import Weights
from .ours import OursDeclaration


@dataclass
class ReferenceModel:
    spec: ModelSpec
    weights: Weights = field(default_factory=dict)


class NumpyReferenceAdapter(OursDeclaration):
    name = "numpy"

    def build(self, ms: ModelSpec) -> ReferenceModel:
        return ReferenceModel(ms, initial_weights(ms, 0))

    def set_state(self, model: ReferenceModel, weights: Weights) -> None:
        reference.check_weights(model.spec, weights)
        model.weights = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}

    def get_state(self, model: ReferenceModel) -> Weights:
        return {k: v.copy() for k, v in model.weights.items()}

    def forward(
        self, model: ReferenceModel, x: np.ndarray, *, training: bool = False
    ) -> dict[str, np.ndarray]:
        out = reference.forward(model.spec, model.weights, x, training=training, dtype=np.float32)
        if training:
            model.weights.update({k: np.asarray(v, np.float32) for k, v in out.new_stats.items()})
        return out.intermediates


ADAPTER = NumpyReferenceAdapter()
