"""Every backend's ``from_spec`` starts from ``spec.init``: the same seed is the same network in all of
them (no framework's own default initialiser leaks in)."""

import numpy as np
import pytest

from effnet import spec
from effnet.spec.init import initial_weights

from .conftest import NAMES, SELECTED


@pytest.mark.parametrize("backend", NAMES)
def test_built_model_holds_the_spec_initial_weights(backend):
    ms = spec.resolve("efficientnetv2-b0", num_classes=7)
    adapter = SELECTED[backend]
    got = adapter.get_state(adapter.build(ms))
    expected = initial_weights(ms, 0)
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(np.asarray(got[name], np.float32), value, err_msg=name)
