"""The suite's view of the backend registry (``effnet.backends``): each backend's conformance adapter
(see ``Adapter``), imported lazily, so a missing framework is reported as skipped and never breaks an
import.

The suite's backend selection comes from ``EFFNET_BACKEND`` (set by the nox sessions): a backend
name, a comma-separated list, or ``all`` (every installed backend). Unset, or naming nothing that
is installed, is an error: a conformance run that silently tests nothing is worse than none.
"""

from __future__ import annotations

import os

from effnet import backends
from effnet.backends import BackendUnavailable

from .protocol import Adapter, StepResult, Weights

__all__ = [
    "BACKEND_ENV",
    "Adapter",
    "BackendUnavailable",
    "StepResult",
    "Weights",
    "available",
    "load",
    "selected",
]

BACKEND_ENV = backends.SELECT_ENV


def load(name: str) -> Adapter:
    try:
        return backends.provide(name, "adapter")
    except backends.UnknownBackend as err:
        raise BackendUnavailable(str(err)) from None


def available() -> tuple[dict[str, Adapter], dict[str, str]]:
    """(installed adapters, {missing backend: reason})."""
    found, missing = {}, {}
    for name in backends.names():
        try:
            found[name] = load(name)
        except BackendUnavailable as err:
            missing[name] = str(err)
    return found, missing


def selected() -> dict[str, Adapter]:
    """The backends this run tests, from ``EFFNET_BACKEND``; fails loudly rather than test nothing."""
    value = os.environ.get(BACKEND_ENV, "").strip()
    if not value:
        raise RuntimeError(
            f"{BACKEND_ENV} is not set: name a backend ({', '.join(backends.names())}) or 'all'"
        )
    found, missing = available()
    if value == "all":
        if not found:
            raise RuntimeError(f"{BACKEND_ENV}=all but no backend is installed: {missing}")
        return found
    names = [n.strip() for n in value.split(",") if n.strip()]
    unusable = {n: missing.get(n, f"unknown backend {n!r}") for n in names if n not in found}
    if unusable:
        raise RuntimeError(f"{BACKEND_ENV}={value} names backends that cannot be used: {unusable}")
    return {n: found[n] for n in names}
