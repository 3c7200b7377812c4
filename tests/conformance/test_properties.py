"""The conformance properties, over hypothesis-drawn small architectures and inputs:
a. every backend equals the numpy reference in eval mode;
b. every pair of backends agrees in eval mode;
c. train-mode forward (dropout and drop-path 0) and the updated running statistics agree;
d. gradients w.r.t. every canonical parameter agree (pairs), and match float64 finite differences
   of the numpy reference along a random direction (each backend alone);
e. canonical state round-trips through every backend bit-exactly, with identical key sets."""

import numpy as np
import pytest
from hypothesis import given

from effnet.conformance import architectures, checks
from effnet.conformance.strategies import architectures as drawn_architectures
from effnet.conformance.strategies import inputs
from effnet.spec import reference

from .conftest import NAMES, PAIRS, SELECTED, pair_or_skip, trainable_or_skip


def _setup(doc, seed=0):
    ms = architectures.resolve(doc)
    return ms, reference.random_weights(ms, seed)


def _labels(ms, x):
    return np.random.default_rng(x.shape[1] * 7 + x.shape[2]).integers(0, ms.num_classes, x.shape[0])


def _assert(result):
    assert result.ok, str(result)


@pytest.mark.parametrize("backend", NAMES)
@given(doc=drawn_architectures(), x=inputs())
def test_a_eval_matches_reference(backend, doc, x):
    ms, w = _setup(doc)
    _assert(checks.eval_vs_reference(SELECTED[backend], ms, w, x))


@pytest.mark.parametrize("pair", PAIRS)
@given(doc=drawn_architectures(), x=inputs())
def test_b_backends_agree_in_eval(pair, doc, x):
    a, b = pair_or_skip(pair)
    ms, w = _setup(doc)
    _assert(checks.eval_pair(a, b, ms, w, x))


@pytest.mark.parametrize("backend", NAMES)
@given(doc=drawn_architectures(), x=inputs())
def test_c_train_mode_matches_reference(backend, doc, x):
    ms, w = _setup(doc)
    _assert(checks.train_vs_reference(SELECTED[backend], ms, w, x))


@pytest.mark.parametrize("pair", PAIRS)
@given(doc=drawn_architectures(), x=inputs())
def test_c_backends_agree_in_train_mode(pair, doc, x):
    a, b = pair_or_skip(pair)
    ms, w = _setup(doc)
    _assert(checks.train_pair(a, b, ms, w, x))


@pytest.mark.parametrize("backend", NAMES)
@given(doc=drawn_architectures(), x=inputs())
def test_d_gradients_match_finite_differences(backend, doc, x):
    (adapter,) = trainable_or_skip(SELECTED[backend])
    ms, w = _setup(doc)
    _assert(checks.grads_vs_reference(adapter, ms, w, x, _labels(ms, x)))


@pytest.mark.parametrize("pair", PAIRS)
@given(doc=drawn_architectures(), x=inputs())
def test_d_backends_agree_on_gradients(pair, doc, x):
    a, b = trainable_or_skip(*pair_or_skip(pair))
    ms, w = _setup(doc)
    _assert(checks.grads_pair(a, b, ms, w, x, _labels(ms, x)))


@pytest.mark.parametrize("backend", NAMES)
@given(doc=drawn_architectures())
def test_e_canonical_state_round_trips(backend, doc):
    ms, w = _setup(doc)
    _assert(checks.roundtrip(SELECTED[backend], ms, w))
