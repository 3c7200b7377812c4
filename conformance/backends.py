"""The backend registry: each backend exposes the same small adapter (see ``Adapter``), imported
lazily, so a missing framework is reported as skipped and never breaks an import.

The suite's backend selection comes from ``EFFNET_BACKEND`` (set by the nox sessions): a backend
name, a comma-separated list, or ``all`` (every installed backend). Unset, or naming nothing that
is installed, is an error: a conformance run that silently tests nothing is worse than none.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from effnet.spec import ModelSpec

Weights = dict[str, np.ndarray]
BACKEND_ENV = "EFFNET_BACKEND"
# backend name -> module holding its adapter (``ADAPTER``)
ADAPTER_MODULES = {
    "torch": "effnet.impl_torch.adapter",
    "jax": "effnet.impl_jax.adapter",
    "tf": "effnet.impl_tf.adapter",
}


@dataclass
class StepResult:
    loss: float
    grads: Weights  # d loss / d every trainable canonical parameter (canonical names and layouts)
    state: Weights  # canonical state after the SGD update (running statistics included)


class Adapter(Protocol):
    """What every backend provides to the suite. Arrays are numpy, images NHWC float32."""

    name: str

    def build(self, ms: ModelSpec) -> Any: ...

    def set_state(self, model: Any, weights: Weights) -> None: ...

    def get_state(self, model: Any) -> Weights: ...

    def forward(self, model: Any, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        """Named intermediates (NHWC). ``training=True``: batch-statistics BN, running statistics
        updated in the model following the spec's convention (biased variance)."""
        ...

    def train_step(self, model: Any, x: np.ndarray, labels: np.ndarray, lr: float) -> StepResult:
        """Train-mode forward, mean softmax cross-entropy on the logits, backward, plain SGD."""
        ...


class BackendUnavailable(RuntimeError):
    pass


def load(name: str) -> Adapter:
    if name not in ADAPTER_MODULES:
        raise BackendUnavailable(f"unknown backend {name!r}; known: {', '.join(ADAPTER_MODULES)}")
    try:
        module = importlib.import_module(ADAPTER_MODULES[name])
    except ImportError as err:
        raise BackendUnavailable(f"{name}: not installed ({err})") from err
    return module.ADAPTER


def available() -> tuple[dict[str, Adapter], dict[str, str]]:
    """(installed adapters, {missing backend: reason})."""
    found, missing = {}, {}
    for name in ADAPTER_MODULES:
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
            f"{BACKEND_ENV} is not set: name a backend ({', '.join(ADAPTER_MODULES)}) or 'all'"
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
