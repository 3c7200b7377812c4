"""The backends under test come from EFFNET_BACKEND (see conformance.backends); an unset or
unusable selection fails the collection loudly instead of testing nothing."""

from itertools import combinations

import pytest

from effnet.conformance import backends, checks

SELECTED = backends.selected()
NAMES = sorted(SELECTED)
PAIRS = list(combinations(NAMES, 2)) or [None]


def pair_or_skip(pair):
    if pair is None:
        pytest.skip(f"needs two backends; {backends.BACKEND_ENV} selects only {', '.join(NAMES)}")
    return SELECTED[pair[0]], SELECTED[pair[1]]


def trainable_or_skip(*adapters):
    """Skip a gradient check for an inference-only adapter (no ``train_step``)."""
    for adapter in adapters:
        if not checks.trains(adapter):
            pytest.skip(f"{adapter.name}: inference-only adapter (no train_step)")
    return adapters
