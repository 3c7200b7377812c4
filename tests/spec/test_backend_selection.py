"""The conformance suite's backend selection fails loudly instead of testing nothing."""

import pytest

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
    monkeypatch.setitem(backends.ADAPTER_MODULES, "ghost", "no_such_module.adapter")
    found, missing = backends.available()
    assert "ghost" not in found and "not installed" in missing["ghost"]
