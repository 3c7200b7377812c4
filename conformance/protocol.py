"""The adapter protocol, version 1: what the conformance suite needs from any EfficientNet
implementation (ours, a library's, an exported file). Documented with a worked example in
``conformance/README.md``.

Arrays are numpy; images are NHWC float32 *network inputs* (already preprocessed), of any height and
width. Weights cross the boundary as canonical ``{name: array}`` (``effnet.spec.canonical``): mapping
names and layouts to the implementation's own is the adapter's job (the format tables in
``effnet.weights_convert.formats`` do it for the formats this project knows).

Required for every level: ``adapter_api``, ``name``, ``version``, ``library``, ``library_version``,
``claims``, ``build``, ``set_state``, ``get_state``, ``forward`` (eval mode, returning at least
``"logits"``). Optional: named intermediates in ``forward``'s result (``stem``, ``blocks.{i}``,
``head``, ``pre_logits``: they let a failure name the first diverging tensor); ``forward(...,
training=True)`` (level L3: batch-statistics BN, running statistics updated as the spec defines them,
biased variance); ``train_step`` (level L4); ``parameter_count`` (level L0 compares it with the spec's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from effnet.spec import ModelSpec

ADAPTER_API = 1
Weights = dict[str, np.ndarray]


@dataclass
class StepResult:
    loss: float
    grads: Weights  # d loss / d every trainable canonical parameter (canonical names and layouts)
    state: Weights  # canonical state after the SGD update (running statistics included)


class Adapter(Protocol):
    adapter_api: int  # ADAPTER_API this adapter implements
    name: str  # how results name it ("torchvision", "timm", "my-effnet")
    version: str  # the adapter's own version
    library: str  # the implementation under test (a package name)
    library_version: str

    def claims(self) -> list[tuple[str, str]]:
        """The (spec model, profile) pairs this implementation builds, exactly as the profile
        resolves them; ``effnet spec show MODEL --profile P`` shows each."""
        ...

    def build(self, ms: ModelSpec) -> Any:
        """A model of ``ms`` with random weights (its dropout and drop-path rates as ``ms`` says)."""
        ...

    def set_state(self, model: Any, weights: Weights) -> None: ...

    def get_state(self, model: Any) -> Weights:
        """Every canonical tensor, running statistics included (level L0 checks the names/shapes)."""
        ...

    def forward(self, model: Any, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        """``"logits"`` and any named intermediates (NHWC). ``training=True``: batch-statistics BN,
        running statistics updated in the model following the spec's convention."""
        ...


class Trainable(Adapter, Protocol):
    def train_step(self, model: Any, x: np.ndarray, labels: np.ndarray, lr: float) -> StepResult:
        """Train-mode forward, mean softmax cross-entropy on the logits, backward, plain SGD."""
        ...
