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


def pytest_addoption(parser):
    parser.addoption(
        "--pairs-only",
        action="store_true",
        help="only the checks that need two or more backends (each backend's own checks run in its session)",
    )


def pytest_collection_modifyitems(config, items):
    """``--pairs-only`` (the conformance session) deselects every check parametrized by one backend:
    the backend sessions run those, with the same backends, so running them again only costs time."""
    if not config.getoption("--pairs-only"):
        return
    single = [item for item in items if "backend" in getattr(getattr(item, "callspec", None), "params", {})]
    if single:
        config.hook.pytest_deselected(items=single)
        items[:] = [item for item in items if item not in single]
