"""Each pair of training engines draws its stochastic regularization alike. Dropout and drop-path
masks come from each framework's own random numbers, so no two engines can take the same step with
them on; what must agree is their distribution. Each engine runs ``STEPS`` steps at learning rate 0
on one fixed batch from the spec's initial weights: the weights never move, so the step-to-step spread
of the loss comes from the masks alone. For a pair, the mean losses and the spreads must agree within
``SAMPLING_Z`` standard errors (conformance/tolerances.py), and every engine must draw new masks at
every step.

Dropout and drop-path are checked apart: dropout's spread is twice drop-path's here and would hide
a drop-path fault. Faults injected into JAX's drop-path, each failed (z against the bound 5): survivors
not scaled by 1 / keep (mean z 8.8, spread z 11.7), a per-element instead of a per-sample mask (spread
z 13.4), one fixed mask (a single distinct loss). The rate is 0.8 and the steps 400 because at 0.5 and
200 the missing scale gave z 3.6 only.
"""

import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from effnet import backends, spec
from effnet.conformance.tolerances import SAMPLING_Z
from tests.conftest import TINY_YAML
from tests.training import precision_checks as runs

from .conftest import PAIRS, pair_or_skip

STEPS = 400
COPIES = 4  # the batch is the precision checks' first batch 4 times over: 32 images
RATES = {"dropout": (0.0, 0.5), "drop-path": (0.8, 0.0)}  # (model drop-path rate, dropout rate)


@cache
def _losses(backend: str, regularizer: str) -> np.ndarray:
    drop_path, dropout = RATES[regularizer]
    text = TINY_YAML.replace("drop_path: {rate: 0.2", f"drop_path: {{rate: {drop_path}")
    text = text.replace("dropout: 0.2", f"dropout: {dropout}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.yaml"
        path.write_text(text)
        ms = spec.resolve("tiny-net", file=path)
    x, y = runs.training_batches(ms)[0]
    x, y = np.concatenate([x] * COPIES), np.concatenate([y] * COPIES)
    engine = runs.make_engine(backend, ms, "fp32")
    engine.set_dropout(dropout)
    return np.array([engine.train_step(x, y, 0.0)[0] for _ in range(STEPS)])


@pytest.mark.parametrize("regularizer", sorted(RATES))
@pytest.mark.parametrize("pair", PAIRS)
def test_engines_draw_regularization_alike(pair, regularizer):
    a, b = (adapter.name for adapter in pair_or_skip(pair))
    if not {a, b} <= set(backends.names(trains=True)):
        pytest.skip(f"{a} or {b} has no training engine")
    la, lb = _losses(a, regularizer), _losses(b, regularizer)
    for name, losses in ((a, la), (b, lb)):
        assert len(np.unique(losses)) > 0.9 * STEPS, f"{name}: the masks are not drawn anew at every step"
    mean_se = np.hypot(la.std(ddof=1), lb.std(ddof=1)) / np.sqrt(STEPS)
    # log of a sample standard deviation has standard error ~ 1 / sqrt(2 (n - 1)) (normal samples)
    log_sd_se = np.sqrt(2 / (2 * (STEPS - 1)))
    z_mean = abs(la.mean() - lb.mean()) / mean_se
    z_spread = abs(np.log(la.std(ddof=1) / lb.std(ddof=1))) / log_sd_se
    print(
        f"{regularizer}, {a} vs {b}: mean {la.mean():.5f} vs {lb.mean():.5f} (z {z_mean:.2f}), "
        f"spread {la.std(ddof=1):.5f} vs {lb.std(ddof=1):.5f} (z {z_spread:.2f})"
    )
    assert z_mean <= SAMPLING_Z, (regularizer, a, b, z_mean)
    assert z_spread <= SAMPLING_Z, (regularizer, a, b, z_spread)
