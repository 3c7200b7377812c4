"""Mixed-precision checks shared by the backend sessions (tests/torch, tests/jax, tests/tf call them
with their backend; see ``effnet.execution``):

- a bf16 run and an fp32 run of the engine from the same seed, on the same batches, agree after
  ``STEPS`` optimizer steps: the losses of every step within ``tolerance("bfloat16", "train")``, and
  the float32 weights (live and EMA, relative to the whole state's scale) within
  ``tolerance("bfloat16", "update")``; both stay float32;
- the engine's bf16 eval forward (the EMA model as ``effnet train`` evaluates it) agrees with the
  float64 numpy oracle within ``tolerance("bfloat16", "eval")`` (calibrated weights, tiny spec);
- fp16 always scales the loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from effnet.conformance.certify import calibrated_weights
from effnet.conformance.checks import rel_error
from effnet.conformance.tolerances import tolerance
from effnet.execution import Execution
from effnet.spec import ModelSpec, reference
from effnet.spec.recipe import recipe
from effnet.training.engine import Engine, create

STEPS = 6  # optimizer steps compared (fp32 vs bf16)
BATCH = 8
LR = 0.01


def make_engine(backend: str, ms: ModelSpec, precision: str) -> Engine:
    rec = recipe("efficientnetv2-b0", batch_size=BATCH, epochs=4)
    return create(backend, ms, rec, seed=1, execution=Execution(precision=precision))  # type: ignore[arg-type]


def training_batches(ms: ModelSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    size = ms.image_size.train
    return [
        (
            rng.normal(size=(BATCH, size, size, 3)).astype(np.float32),
            np.eye(ms.num_classes, dtype=np.float32)[rng.integers(0, ms.num_classes, BATCH)],
        )
        for _ in range(STEPS)
    ]


def live_weights(engine: Any) -> dict[str, np.ndarray]:
    """The live (not EMA) model's canonical weights, read with the backend's own ``canonical_state``."""
    import importlib

    build = importlib.import_module(f"effnet.impl_{engine.name}.build")
    if engine.name == "jax":
        engine._settle()
    return build.canonical_state(engine.model)


def norm(a: dict[str, np.ndarray], b: dict[str, np.ndarray] | None = None) -> float:
    """The L2 norm of ``a - b`` over every tensor of a state (of ``a`` if ``b`` is None)."""
    return float(np.sqrt(sum(np.sum((a[k] - (0 if b is None else b[k])) ** 2, dtype=np.float64) for k in a)))


def check_bf16_tracks_fp32(backend: str, ms: ModelSpec) -> dict[str, float]:
    """Returns the measured errors (losses: the worst step; weights: live and EMA)."""
    batches = training_batches(ms)
    runs = {}
    for precision in ("fp32", "bf16"):
        engine = make_engine(backend, ms, precision)
        assert engine.execution.precision == precision
        start = engine.canonical_weights()  # the EMA equals the live model at the start
        losses = np.array([engine.train_step(x, y, LR)[0] for x, y in batches])
        runs[precision] = (losses, live_weights(engine), engine.canonical_weights())
    (l32, live32, ema32), (l16, live16, ema16) = runs["fp32"], runs["bf16"]
    assert {v.dtype for v in [*live16.values(), *ema16.values()]} == {np.dtype(np.float32)}
    errors = {"loss": float(np.max(np.abs(l16 - l32) / np.abs(l32)))}
    for name, a, b in (("weights", live16, live32), ("ema", ema16, ema32)):
        errors[name] = norm(a, b) / norm(b, start)  # the bf16 run's change against the fp32 run's
    errors["moved"] = norm(live32, start) / norm(start)
    print(errors)
    assert errors["loss"] <= tolerance("bfloat16", "train"), errors
    assert errors["weights"] <= tolerance("bfloat16", "update"), errors
    assert errors["ema"] <= tolerance("bfloat16", "update"), errors
    return errors


def check_bf16_eval_matches_oracle(backend: str, ms: ModelSpec) -> float:
    """The engine's bf16 eval forward against the float64 oracle; returns the error."""
    import importlib

    x = np.random.default_rng(3).normal(size=(4, 32, 32, 3)).astype(np.float32)
    weights = calibrated_weights(ms, x, seed=2)
    engine: Any = make_engine(backend, ms, "bf16")
    importlib.import_module(f"effnet.impl_{backend}.build").load_canonical_state(engine.ema, weights)
    got = engine.evaluate(x)
    assert got.dtype == np.float32
    error = rel_error(got, reference.forward(ms, weights, x).logits)[1]
    assert error <= tolerance("bfloat16", "eval"), error
    return error


def check_fp16_scales_the_loss(backend: str, ms: ModelSpec) -> None:
    """fp16 has no unscaled mode: the engine holds a loss scale, saves it, and trains finitely."""
    engine: Any = make_engine(backend, ms, "fp16")
    assert engine.execution.precision == "fp16"
    scaled = engine.opt is not engine.rmsprop if backend == "tf" else engine.scaler is not None
    assert scaled, "fp16 without loss scaling"
    x, y = training_batches(ms)[0]
    loss, _ = engine.train_step(x, y, LR)
    assert np.isfinite(loss)
