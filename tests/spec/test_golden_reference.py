"""The numpy reference still reproduces the checked-in golden vectors (no framework needed)."""

import numpy as np
import pytest

from effnet.conformance import golden
from effnet.spec import reference

CASES = golden.load_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reference_reproduces_golden(case):
    ms = case.model_spec()
    assert ms.spec_hash == case.spec_hash, "the architecture changed: regenerate golden vectors deliberately"
    weights = case.weights()
    assert golden.checksum(weights) == pytest.approx(case.weights_checksum, rel=1e-12), (
        "numpy's random stream changed"
    )
    with np.load(golden.GOLDEN_DIR / f"{case.id}.npz") as data:
        assert np.array_equal(data["input"], case.input())
    got = reference.forward(ms, weights, case.input()).intermediates
    expected = case.expected()
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert np.allclose(got[name], value, rtol=1e-6, atol=1e-6 * np.abs(value).max()), name


def test_golden_cases_cover_both_kinds_and_paddings():
    specs = [c.model_spec() for c in CASES]
    assert {b.kind for ms in specs for b in ms.blocks} == {"mbconv", "fused_mbconv"}
    assert {ms.padding for ms in specs} == {"tf_same", "symmetric"}
