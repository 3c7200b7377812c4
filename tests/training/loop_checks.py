"""Training-loop checks shared by the backend sessions (tests/torch, tests/jax, tests/tf call them
with their backend): the schedule is followed exactly, resume reproduces an uninterrupted run,
same-seed runs are deterministic, bad input is refused clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from effnet import spec
from effnet.training import checkpoint
from effnet.training.loop import RunConfig, run, stage_of
from tests.conftest import TINY_MODEL

from .helpers import write_folder
from .tiny_schedules import write_tiny_spec

MODEL = "efficientnetv2-b0"
EPOCHS = 4
# check_engine_fits_a_batch: RMSProp at this rate on 16 samples descends fast without diverging; the
# loss must end under this fraction of its start (measured for torch: 1.595 -> 0.415, 0.26 of it)
FIT_LR = 0.01
FIT_LOSS_FRACTION = 0.5


def tiny_data(root: Path) -> Path:
    return write_folder(root, {c: (6, 2) for c in "abcd"}, size=48)


def tiny_run(backend: str, tmp_path: Path, out: str, tiny_net: bool = False) -> RunConfig:
    """A 4-epoch run on a 4-class, 24-image dataset drawn under ``tmp_path``: V2-B0 and its spec
    schedule, or (``tiny_net``) the tiny architecture and its two-stage schedule
    (``tests/training/tiny_schedules.py``), for backends whose step compiles once per image size."""
    spec_file = write_tiny_spec(tmp_path / "tiny.yaml") if tiny_net else None
    return RunConfig(
        backend=backend,
        model=TINY_MODEL if tiny_net else MODEL,
        data=tiny_data(tmp_path / "data"),
        out=tmp_path / out,
        epochs=EPOCHS,
        batch_size=8,
        progress=False,
        workers=2,
        spec_file=spec_file,
    )


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def check_schedule_resume_determinism(backend: str, tmp_path: Path, tiny_net: bool = False) -> None:
    cfg = tiny_run(backend, tmp_path, "full", tiny_net)
    summary = run(cfg)
    full = metrics(cfg.out)
    expected = spec.schedule(cfg.model, "paper", epochs=EPOCHS, file=cfg.spec_file)
    assert len({stage.image_size for stage in expected}) > 1  # the size changes, and so the step's shapes
    assert len(full) == EPOCHS
    for record in full:  # what the pipeline and model really applied, against the epoch's stage
        stage = stage_of(expected, record["epoch"])
        assert record["applied"]["image_size"] == stage.image_size
        assert record["applied"]["randaug_magnitude"] == stage.randaug_magnitude
        assert record["applied"]["mixup_alpha"] == stage.mixup_alpha
        assert record["applied"]["augment"] == stage.augment
        assert record["applied"]["cutmix_alpha"] == stage.cutmix_alpha
        assert record["applied"]["dropout"] == pytest.approx(stage.dropout)
    assert summary["final_eval_image_size"] == spec.resolve(cfg.model, file=cfg.spec_file).image_size.eval
    assert (cfg.out / "progress.png").read_bytes()[:4] == b"\x89PNG"
    assert (checkpoint.latest(cfg.out / "checkpoints") / "canonical.safetensors").exists()

    # interrupted after 2 epochs, then resumed: the same metrics as the uninterrupted run
    part = RunConfig(**{**cfg.__dict__, "out": tmp_path / "part", "epochs": EPOCHS})
    _run_epochs(part, 2)
    run(RunConfig(**{**part.__dict__, "resume": True}))
    resumed = metrics(part.out)
    for a, b in zip(full, resumed, strict=True):
        for key in ("train_loss", "train_accuracy", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), (a["epoch"], key)

    # a second same-seed run is deterministic
    again = RunConfig(**{**cfg.__dict__, "out": tmp_path / "again"})
    run(again)
    assert [r["train_loss"] for r in metrics(again.out)] == pytest.approx(
        [r["train_loss"] for r in full], rel=1e-6
    )


def _run_epochs(cfg: RunConfig, epochs_done: int) -> None:
    """Run the first ``epochs_done`` epochs of a longer run (as if it were killed after them)."""
    from effnet.training import loop as loop

    original = loop._checkpoint
    calls = {"n": 0}

    def stop_after(*args: object, **kwargs: object) -> None:
        original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == epochs_done:
            raise KeyboardInterrupt

    loop._checkpoint = stop_after
    try:
        with pytest.raises(KeyboardInterrupt):
            run(cfg)
    finally:
        loop._checkpoint = original


def check_resume_refuses_another_model(backend: str, tmp_path: Path, tiny_net: bool = False) -> None:
    cfg = tiny_run(backend, tmp_path, "run", tiny_net)
    _run_epochs(cfg, 1)
    other = RunConfig(**{**cfg.__dict__, "model": "efficientnetv2-b1", "spec_file": None, "resume": True})
    with pytest.raises(checkpoint.ResumeError, match=f"model '{cfg.model}'.*'efficientnetv2-b1'"):
        run(other)


def check_data_parallel(backend: str, tmp_path: Path, launcher: list[str] | None = None) -> dict[str, float]:
    """Two replicas and one compute the same losses and weights on the same global batch. Two replicas
    are two processes started by ``launcher`` (torchrun), else ``--devices 2`` in one process.
    Returns the errors."""
    from effnet.conformance.checks import rel_error
    from effnet.conformance.tolerances import tolerance
    from tests.conftest import TINY_YAML

    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(TINY_YAML)
    worker = ["-m", "tests.training.data_parallel_worker", "--backend", backend, "--spec", str(spec_file)]
    root = Path(__file__).resolve().parents[2]
    results = {}
    commands = {
        "one": [sys.executable, *worker],
        "two": [*launcher, *worker] if launcher else [sys.executable, *worker, "--devices", "2"],
    }
    for name, command in commands.items():
        out = tmp_path / f"{name}.npz"
        done = subprocess.run([*command, "--out", str(out)], cwd=root, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        results[name] = dict(np.load(out))
    one, two = results["one"], results["two"]
    assert int(one["replicas"]) == 1 and int(two["replicas"]) == 2
    bound = tolerance("float32", "data_parallel")
    names = [k for k in one if k not in ("losses", "replicas")]
    scale = max(float(np.abs(one[k]).max()) for k in names)  # whole-state scale: many tensors are ~0
    errors = {
        "loss": rel_error(two["losses"], one["losses"])[1],
        "weights": max(rel_error(two[k], one[k])[0] for k in names) / scale,
    }
    assert errors["loss"] <= bound and errors["weights"] <= bound, errors
    assert not np.allclose(one["losses"][0], one["losses"][-1]), "the steps must change the loss"
    return errors


def rmsprop_reference(
    w: np.ndarray, grads: list[np.ndarray], *, lr: float, rho: float, momentum: float, eps: float, wd: float
) -> np.ndarray:
    """The automl/Keras RMSProp step in float64 (eps inside the square root, coupled L2), the
    formula every backend's optimizer must follow (``impl_torch.optim`` docstring)."""
    w = w.astype(np.float64)
    v, m = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        g = g + wd * w
        v = rho * v + (1 - rho) * g * g
        m = momentum * m + lr * g / np.sqrt(v + eps)
        w = w - m
    return w


def optimizer_case() -> tuple[np.ndarray, list[np.ndarray], dict[str, float]]:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 5)).astype(np.float32)
    grads = [rng.normal(scale=s, size=w.shape).astype(np.float32) for s in (1.0, 1e-3, 0.3, 10.0)]
    return w, grads, {"lr": 0.05, "rho": 0.9, "momentum": 0.9, "eps": 1e-3, "wd": 1e-2}


ACCURACY_EPOCHS = 4
ACCURACY_LR_PER_256 = 0.008  # the README short-run value (--lr-per-256)


def check_accuracy_above_chance(backend: str, tmp_path: Path) -> float:
    """A short progressive run of the README's main job on the builtin data ends clearly above chance:
    five binomial standard deviations above it on the validation set (8 classes, 400 images: chance
    12.5% +- 1.65%, bound 20.8%; a guessing model exceeds it with probability < 1e-6)."""
    from effnet.training.builtin import ensure_builtin

    cfg = RunConfig(
        backend=backend,
        model=MODEL,
        data=ensure_builtin(),
        out=tmp_path / "run",
        epochs=ACCURACY_EPOCHS,
        batch_size=32,
        rule="code",
        lr_per_256=ACCURACY_LR_PER_256,
        progress=False,
    )
    summary = run(cfg)
    accuracy = summary["final_val_accuracy"]
    print(
        f"{backend}: {accuracy:.3f} at {summary['final_eval_image_size']} px (chance {summary['chance']:.3f})"
    )
    chance, n = summary["chance"], summary["val_images"]
    assert accuracy >= chance + 5 * (chance * (1 - chance) / n) ** 0.5, summary
    return accuracy


def check_starts_from_spec_init(backend: str, tiny_ms: object) -> None:
    """The engine's starting weights are ``spec.init.initial_weights`` (both schemes), bit for bit."""
    from effnet.spec.init import initial_weights
    from effnet.spec.recipe import recipe
    from effnet.training.engine import create

    for scheme in ("fan_in", "automl"):
        rec = recipe(MODEL, batch_size=8, epochs=EPOCHS, init=scheme)
        got = create(backend, tiny_ms, rec, seed=3).canonical_weights()
        expected = initial_weights(tiny_ms, 3, scheme=scheme)
        assert set(got) == set(expected)
        assert all(np.array_equal(got[k], expected[k]) for k in expected), scheme


def check_engine_fits_a_batch(backend: str, tiny_ms: object, steps: int = 80) -> tuple[float, float]:
    """The engine's full training step (the spec's recipe, dropout and drop-path on) drives the loss of
    one fixed batch of 16 random images with random labels towards its floor: the CI-speed stand-in for
    the short run on the builtin data (``check_accuracy_above_chance``, minutes per backend, in
    conformance-full). A step that does not descend (a sign, a learning-rate or a gradient-flow fault)
    leaves the loss near its start, ln(5) = 1.61 for 5 classes. Returns (first, last) loss."""
    from effnet.bench.engine_steps import soft_labels
    from effnet.spec.recipe import recipe
    from effnet.training.engine import create

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 32, 32, 3)).astype(np.float32)
    classes = tiny_ms.num_classes  # type: ignore[attr-defined]
    rec = recipe(MODEL, batch_size=16, epochs=EPOCHS)
    soft = soft_labels(rng.integers(0, classes, 16), classes, rec.label_smoothing)
    engine = create(backend, tiny_ms, rec, seed=0)  # type: ignore[arg-type]
    losses = [engine.train_step(x, soft, FIT_LR)[0] for _ in range(steps)]
    first, last = losses[0], float(np.mean(losses[-10:]))
    print(f"{backend}: loss {first:.3f} -> {last:.3f} over {steps} steps")
    assert last < FIT_LOSS_FRACTION * first, losses
    return first, last
