"""L3's reported figure covers the train-mode forward as well as the updated running statistics
(it once reported the statistics' error alone, so a forward at 9e-5 of the 1e-4 bound read 4e-7)."""

from __future__ import annotations

import numpy as np

from effnet.conformance import certify
from effnet.conformance.adapters.reference_numpy import NumpyReferenceAdapter


class _TrainLogitsOff(NumpyReferenceAdapter):
    """The reference with its train-mode logits scaled by 1 + 5e-5 (under the bound); statistics exact."""

    name = "numpy-train-off"

    def forward(self, model, x, *, training=False):
        out = super().forward(model, x, training=training)
        return {**out, "logits": out["logits"] * np.float32(1 + 5e-5)} if training else out


def test_l3_figure_is_the_worse_of_forward_and_statistics(tiny):
    x = certify._batch(*certify.TRAIN_SIZE, 2, batch=certify.BATCH)
    weights = certify.calibrated_weights(tiny, x, seed=1)
    result = certify._against_reference(_TrainLogitsOff(), tiny, weights, x, training=True)
    assert result.ok and 4e-5 < result.max_rel < 1e-4
