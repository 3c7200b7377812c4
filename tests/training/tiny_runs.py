"""Fast ``effnet train`` runs for the hostile-input tests: a tiny trainable family file (the backend
tests' tiny architecture plus ``schedules:`` and ``training:``), a tiny dataset, and a framework-free
engine (numpy) that the loop can drive where no framework is installed."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from effnet.execution import Execution
from effnet.spec import ModelSpec
from effnet.spec.init import initial_weights
from effnet.spec.recipe import Recipe
from tests.conftest import TINY_YAML

from .helpers import write_folder

TRAINING_YAML = """\
schedules:
  paper:
    cite: test
    stages: 2
    size_positions: from_min
    endpoints:
      all:
        {image_size: [24, 32], randaug_magnitude: [0, 5], mixup_alpha: [0, 0], dropout: [0.1, 0.2],
         cite: test}
  code:
    cite: test
    stages: 1
    size_positions: after_min
    endpoints:
      all:
        {image_size: [24, 32], randaug_magnitude: [0, 0], mixup_alpha: [0, 0], dropout: [0.2, 0.2],
         cite: test}
training:
  cite: test
  epochs: 350
  optimizer: {name: rmsprop, decay: 0.9, momentum: 0.9, epsilon: 0.001}
  lr: {per_256_images: 0.016, warmup_epochs: 5, decay_rate: 0.97, decay_epochs: 2.4}
  weight_decay: 1.0e-5
  label_smoothing: 0.1
  ema_decay: 0.9999
  randaug_layers: 2
"""
OTHER_VARIANT = (
    "  tiny-other: {base: tiny, width: 1.0, depth: 1.0, image_size: {train: 32, eval: 32}, "
    "dropout: 0.3, cite: test}\n"
)
MODEL = "tiny-net"


def write_spec(folder: Path) -> Path:
    """The tiny family file (models ``tiny-net`` and ``tiny-other``) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny-train.yaml"
    path.write_text(TINY_YAML.replace("variants:\n", "variants:\n" + OTHER_VARIANT) + TRAINING_YAML)
    return path


def write_data(folder: Path) -> Path:
    """4 classes, 4 train + 2 val images each, 40 px PNG."""
    return write_folder(folder, {c: (4, 2) for c in "abcd"}, size=40)


def train_argv(spec_file: Path, data: Path, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    """``effnet train`` arguments for a run of ``tiny-net`` (batch 8, no threads, no progress bar)."""
    return [
        "train",
        "--backend",
        "torch",
        "--model",
        MODEL,
        "--file",
        str(spec_file),
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--no-progress",
        *extra,
    ]


def effnet(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> tuple[int, str, str]:
    """Run ``effnet`` in this process; returns (exit status, stdout, stderr)."""
    from effnet.cli.main import main

    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse exits itself
        code = stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> str:
    """Exit status 2 and exactly one line ``effnet: error: ...`` holding every fragment."""
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("effnet: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` (files and folders, hidden ones too) with its size and mtime."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.lstat().st_size if p.is_file() else 0, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


class FakeEngine:
    """A framework-free ``training.engine.Engine``: no model, a loss of ``loss_at(step)``, logits that
    favour class ``step % classes`` (so validation accuracy moves), state in a small JSON file."""

    name = "fake"
    process = (0, 1)
    replicas = 1
    execution = Execution(precision="fp32")

    def __init__(self, ms: ModelSpec, seed: int, loss_at: Callable[[int], float]) -> None:
        self.ms, self.seed, self.loss_at, self.step, self.dropout = ms, seed, loss_at, 0, 0.0

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        return values

    def set_dropout(self, rate: float) -> None:
        self.dropout = rate

    def observed(self) -> dict[str, float]:
        return {"dropout": self.dropout}

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        assert x.ndim == 4 and math.isfinite(lr)
        self.step += 1
        return float(self.loss_at(self.step)), 0.5

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        logits = np.zeros((len(x), self.ms.num_classes), np.float32)
        logits[:, self.step % self.ms.num_classes] = 1.0
        return logits

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "fake_state.json").write_text(json.dumps({"step": self.step}))

    def load(self, directory: Path) -> None:
        self.step = int(json.loads((directory / "fake_state.json").read_text())["step"])

    def canonical_weights(self) -> dict[str, np.ndarray]:
        return initial_weights(self.ms, self.seed)


def use_fake_engine(
    monkeypatch: pytest.MonkeyPatch, loss_at: Callable[[int], float] = lambda s: 1.0 / s
) -> None:
    """Make ``effnet train`` (any ``--backend``) drive a :class:`FakeEngine`."""
    from effnet.training import loop

    def create(
        backend: str,
        ms: ModelSpec,
        rec: Recipe,
        seed: int,
        devices: int | None = None,
        execution: Execution | None = None,
    ) -> FakeEngine:
        return FakeEngine(ms, seed, loss_at)

    monkeypatch.setattr(loop, "create", create)
