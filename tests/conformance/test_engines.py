"""The training engines of every pair of backends train alike: from the same spec initial weights, on
the same batches (smaller half way, as at a progressive-learning stage change), with the recipe
(RMSProp with eps inside the root, coupled weight decay, label smoothing, BN statistics, EMA) and no
randomness in the step (dropout and drop-path 0), each step's loss agrees within the fp32
train-forward bound and the weights (live and EMA) after the last step within the engine bound
(conformance/tolerances.py).

Together with a run that learns (torch's engine fitting a batch in CI; a short run of every backend
on the builtin data in ``conformance-full``), this is what shows each backend's trainer learns: an
engine whose step equals a learning engine's step learns.
"""

import numpy as np
import pytest

from effnet import backends, spec
from effnet.conformance.tolerances import tolerance
from tests.conftest import TINY_YAML
from tests.training import precision_checks as runs

from .conftest import PAIRS, pair_or_skip


def _batches(ms):
    """The precision checks' batches, the second half at a smaller size: a progressive-learning stage
    change in the middle of the trajectory (new shapes: JAX and TF trace the step again)."""
    batches = runs.training_batches(ms)
    half = len(batches) // 2
    return batches[:half] + [(x[:, 4:-4, 4:-4], y) for x, y in batches[half:]]


def _trajectory(backend, ms):
    engine = runs.make_engine(backend, ms, "fp32")
    engine.set_dropout(0.0)
    start = engine.canonical_weights()
    losses = np.array([engine.train_step(np.ascontiguousarray(x), y, runs.LR)[0] for x, y in _batches(ms)])
    return start, losses, runs.live_weights(engine), engine.canonical_weights()


@pytest.mark.parametrize("pair", PAIRS)
def test_engines_train_alike(pair, tmp_path):
    a, b = (adapter.name for adapter in pair_or_skip(pair))
    if not {a, b} <= set(backends.names(trains=True)):
        pytest.skip(f"{a} or {b} has no training engine")
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_YAML.replace("drop_path: {rate: 0.2", "drop_path: {rate: 0.0"))
    ms = spec.resolve("tiny-net", file=path)
    start, losses_a, live_a, ema_a = _trajectory(a, ms)
    start_b, losses_b, live_b, ema_b = _trajectory(b, ms)
    assert all(np.array_equal(start[k], start_b[k]) for k in start)  # the spec's initial weights
    errors = {"loss": float(np.max(np.abs(losses_a - losses_b) / np.abs(losses_b)))}
    for name, x, y in (("weights", live_a, live_b), ("ema", ema_a, ema_b)):
        errors[name] = runs.norm(x, y) / runs.norm(y, start)  # the difference against the change
    errors["moved"] = runs.norm(live_b, start) / runs.norm(start)
    print(f"{a} vs {b}: {errors}")
    assert errors["moved"] > 1e-3, errors  # the steps changed the weights measurably
    assert errors["loss"] <= tolerance("float32", "train"), errors
    assert errors["weights"] <= tolerance("float32", "engine"), errors
    assert errors["ema"] <= tolerance("float32", "engine"), errors
