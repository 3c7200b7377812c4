"""Each selected backend against the checked-in golden vectors (the spec's own outputs), and the
real-size properties on V2-B0, so a single-backend session checks against the spec alone."""

import numpy as np
import pytest

from effnet import spec
from effnet.conformance import checks, golden
from effnet.conformance.tolerances import tolerance
from effnet.spec import reference

from .conftest import NAMES, SELECTED

CASES = golden.load_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("backend", NAMES)
def test_backend_reproduces_golden_vectors(backend, case):
    adapter, ms = SELECTED[backend], case.model_spec()
    model = adapter.build(ms)
    adapter.set_state(model, case.weights())
    got = adapter.forward(model, case.input())
    result = checks.compare(
        ms, got, case.expected(), tolerance("float32", "eval"), "golden", f"{backend} vs golden {case.id}"
    )
    assert result.ok, str(result)


@pytest.mark.parametrize("backend", NAMES)
def test_v2_b0_train_mode_gradients_and_round_trip(backend):
    ms = spec.resolve("efficientnetv2-b0", dropout=0.0, drop_path={"rate": 0.0}, num_classes=10)
    w = reference.random_weights(ms, 4)
    x = (
        np.random.default_rng(4).standard_normal((2, 96, 66, 3)).astype(np.float32)
    )  # even sizes: TF SAME asymmetric
    adapter = SELECTED[backend]
    results = [checks.train_vs_reference(adapter, ms, w, x), checks.roundtrip(adapter, ms, w)]
    if checks.trains(adapter):
        results.append(checks.grads_vs_reference(adapter, ms, w, x, np.array([3, 7]), per_tensor=False))
    for result in results:
        assert result.ok, str(result)
