"""spec.init: the starting weights every trainer loads (both schemes, exact shapes, stated spreads)."""

import math

import numpy as np
import pytest

from effnet import spec
from effnet.spec import canonical
from effnet.spec.init import initial_weights


@pytest.mark.parametrize("scheme", ["fan_in", "automl"])
def test_initial_weights_cover_the_canonical_tensors(scheme):
    ms = spec.resolve("efficientnetv2-b0", num_classes=8)
    weights = initial_weights(ms, 0, scheme=scheme)
    assert {k: v.shape for k, v in weights.items()} == canonical.shapes(ms)
    assert all(v.dtype == np.float32 for v in weights.values())
    assert np.all(weights["head.bn.scale"] == 1) and np.all(weights["head.bn.var"] == 1)
    assert np.all(weights["head.bn.mean"] == 0) and np.all(weights["head.bn.bias"] == 0)
    again = initial_weights(ms, 0, scheme=scheme)
    assert all(np.array_equal(weights[k], again[k]) for k in weights)
    assert not np.array_equal(
        weights["stem.conv.kernel"], initial_weights(ms, 1, scheme=scheme)["stem.conv.kernel"]
    )


def test_fan_in_bounds_and_automl_spreads():
    ms = spec.resolve("efficientnetv2-b0", num_classes=8)
    fan_in = initial_weights(ms, 0, scheme="fan_in")
    head = fan_in["head.conv.kernel"]  # (1, 1, 192, 1280): U(+-1/sqrt(192)), std bound/sqrt(3)
    assert np.abs(head).max() <= 1 / math.sqrt(192)
    assert head.std() == pytest.approx(1 / math.sqrt(192) / math.sqrt(3), rel=0.02)
    assert np.abs(fan_in["classifier.bias"]).max() <= 1 / math.sqrt(1280)
    automl = initial_weights(ms, 0, scheme="automl")
    assert automl["head.conv.kernel"].std() == pytest.approx(math.sqrt(2 / 1280), rel=0.02)
    dw = automl["blocks.5.dw.conv.kernel"]  # depthwise fan_out = 3 * 3 * 1
    assert dw.std() == pytest.approx(math.sqrt(2 / 9), rel=0.05)
    assert np.abs(automl["classifier.kernel"]).max() <= 1 / math.sqrt(8)
    assert np.all(automl["classifier.bias"] == 0)


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'"):
        initial_weights(spec.resolve("efficientnetv2-b0"), scheme="xavier")
