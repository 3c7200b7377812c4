"""The conformance suite's backend selection fails loudly instead of testing nothing."""

import pytest

from effnet import backends as registry
from effnet.conformance import backends


def test_unset_is_an_error(monkeypatch):
    monkeypatch.delenv(backends.BACKEND_ENV, raising=False)
    with pytest.raises(RuntimeError, match="EFFNET_BACKEND is not set"):
        backends.selected()


def test_unknown_or_missing_backend_is_an_error(monkeypatch):
    monkeypatch.setenv(backends.BACKEND_ENV, "mxnet")
    with pytest.raises(RuntimeError, match="cannot be used.*unknown backend 'mxnet'"):
        backends.selected()


def test_missing_framework_is_reported_not_raised(monkeypatch):
    ghost = registry.Backend(
        "ghost",
        "no_such_package",
        "Ghost",
        "ghost",
        "no_such_module:build",
        "no_such_module.adapter:ADAPTER",
        "torch",
    )
    monkeypatch.setattr(registry, "_from_entry_points", lambda: [ghost])
    registry.registry.cache_clear()
    try:
        found, missing = backends.available()
    finally:
        monkeypatch.undo()
        registry.registry.cache_clear()
    assert "ghost" not in found and "not installed" in missing["ghost"]
    assert 'pip install "effnet-spec[ghost]"' in missing["ghost"]
