"""Certify one implementation (through its adapter) against the spec, level by level.

Levels, each a named set of checks with bounds from ``tolerances.py``; a level is reached only when
every check in it and below it ran and passed (or failed in a declared deviation):

- L0 architecture: a built model's state maps one-to-one onto the spec's canonical tensors (names and
  shapes), and its parameter count equals the spec's (when the adapter reports one).
- L1 eval forward at the model's eval size, against the float64 numpy reference.
- L2 eval forward at odd, non-square sizes (227x193, 97x131, 33x33): padding semantics.
- L3 train-mode forward (batch statistics) and the updated BN running statistics.
- L4 gradients of a loss against float64 finite differences of the reference.

Weights are random and well-conditioned: each BN's running statistics are the batch statistics of a
calibration batch (otherwise deep random networks explode or vanish and float32 rounding reads as a
bug). L3 and L4 resolve the model with dropout and drop-path 0 (both are random) and run a batch of
16 small images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from effnet import spec
from effnet.spec import ModelSpec, canonical, reference

from . import checks
from .deviations import Deviation, matching
from .protocol import Adapter, Weights
from .tolerances import tolerance

LEVELS = ("L0", "L1", "L2", "L3", "L4")
ODD_SIZES = ((227, 193), (97, 131), (33, 33))
TRAIN_SIZE = (64, 48)  # L3/L4: batch statistics and finite differences need no large image
CALIBRATION_SIZE = (96, 96)  # BN statistics for L1/L2 (the float64 oracle at full size is the cost)
CALIBRATION_BATCH = 2
# L3/L4: 16 images, so that each BN's batch statistics in the last stage (2x2 positions per image at
# 64x48) average over 64 values. With 2 images (8 values) the float32 rounding of a near-constant
# channel, scaled up by its batch normalisation, grew through the depth of every deep model to about
# 1e-4 in all three backends (B4 1.4e-4, B7 2.5e-4, V2-L/XL and L2 1.2-1.5e-3 against the float64
# oracle); with 8 images the same checks measure 1.3e-5 (B4) to 7.7e-5 (L2), with 16 4.0e-5 (V2-XL)
# and 6.1e-5 (L2) (torch): the check is then conditioned, the bound unchanged.
BATCH = 16
EVAL_BATCH = 1  # L1/L2
Status = str  # "pass" | "fail" | "deviation" | "skip" | "error"


@dataclass
class CheckResult:
    model: str
    profile: str
    level: str
    check: str
    status: Status
    max_rel: float | None = None
    tolerance: float | None = None
    first_divergence: str | None = None
    seconds: float = 0.0
    citation: str | None = None
    message: str | None = None


@dataclass
class ModelResult:
    model: str
    profile: str
    spec_hash: str
    checks: list[CheckResult] = field(default_factory=list)

    def reached(self) -> str | None:
        """The highest level every check of which (and of every level below) ran and passed or
        failed only in a declared deviation; None when not even L0."""
        best = None
        for level in LEVELS:
            here = [c for c in self.checks if c.level == level]
            if not here or any(c.status not in ("pass", "deviation") for c in here):
                break
            best = level
        return best


def calibrated_weights(ms: ModelSpec, x: np.ndarray, seed: int = 0) -> Weights:
    """Random canonical weights whose BN running statistics come from ``x``'s batch statistics: the
    batch mean, and the batch variance plus the layer's mean variance. The mean centres every layer
    and the variance keeps activations O(1) through the whole depth; the added layer mean bounds each
    channel's gain (a near-constant channel would otherwise be scaled by up to 1/sqrt(eps), and its
    float32 rounding with it, which reads as a divergence where there is none)."""
    weights = reference.random_weights(ms, seed)
    stats = reference.forward(dataclasses.replace(ms, bn_decay=0.0), weights, x, training=True).new_stats
    for name, value in stats.items():
        if name.endswith(".bn.var"):
            value = value + value.mean()
        weights[name] = np.asarray(value, np.float32)
    return weights


def _batch(height: int, width: int, seed: int, *, batch: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, height, width, 3)).astype(np.float32)


_REFERENCE_CACHE: dict[tuple[str, bool, bytes, bytes], reference.Outputs] = {}


def _reference(ms: ModelSpec, weights: Weights, x: np.ndarray, *, training: bool) -> reference.Outputs:
    """The float64 reference, remembered per (spec hash, mode, weights, input) within a process, so
    a matrix of implementations of one spec model pays for the oracle once."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    key = (
        ms.spec_hash,
        training,
        digest.digest(),
        hashlib.sha256(x.tobytes()).digest() + str(x.shape).encode(),
    )
    if key not in _REFERENCE_CACHE:
        if len(_REFERENCE_CACHE) > 16:
            _REFERENCE_CACHE.clear()
        _REFERENCE_CACHE[key] = reference.forward(ms, weights, x, training=training)
    return _REFERENCE_CACHE[key]


def forget_references() -> None:
    """Drop the remembered reference outputs (a matrix calls it between models: at 800 px they are
    gigabytes)."""
    _REFERENCE_CACHE.clear()


def _against_reference(
    adapter: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray, *, training: bool
) -> checks.Result:
    """The adapter's outputs (those it names) against the reference's, in network order."""
    model = adapter.build(ms)
    adapter.set_state(model, weights)
    got = adapter.forward(model, x, training=training)
    ref = _reference(ms, weights, x, training=training)
    mode = "train" if training else "eval"
    where = f"{adapter.name} vs numpy, {mode}, {x.shape[1]}x{x.shape[2]}"
    if "logits" not in got:
        return checks.Result(mode, float("inf"), 0.0, f"the adapter returned no logits [{where}]")
    expected = {k: v for k, v in ref.intermediates.items() if k in got}
    result = checks.compare(ms, got, expected, tolerance("float32", mode), mode, where)
    if not training or not result.ok:
        return result
    state = adapter.get_state(model)
    stats = {k: state[k] for k in ref.new_stats if k in state}
    running = checks.compare(
        ms, stats, ref.new_stats, tolerance("float32", "train"), mode, where + ", running statistics"
    )
    return checks.worse(result, running)  # the level's figure covers the forward and the statistics


def _architecture(adapter: Adapter, ms: ModelSpec) -> checks.Result:
    model = adapter.build(ms)
    problems = canonical.check(ms, adapter.get_state(model))
    if problems:
        return checks.Result("architecture", float("inf"), 0.0, f"canonical tensors: {problems.describe(5)}")
    count = getattr(adapter, "parameter_count", None)
    expected = spec.count(ms).params
    if count is not None and (got := int(count(model))) != expected:
        return checks.Result("architecture", float("inf"), 0.0, f"{got:,} parameters, the spec {expected:,}")
    return checks.Result("architecture", 0.0, 0.0, None)


@dataclass(frozen=True)
class Plan:
    """Which checks a level runs: (level, check name, function () -> checks.Result, needs)."""

    level: str
    check: str
    run: Callable[[], checks.Result]
    needs: str | None = None  # an optional adapter capability ("train_step", "training")


def plan(adapter: Adapter, ms: ModelSpec, ms_train: ModelSpec, up_to: str) -> list[Plan]:
    size = ms.image_size.eval
    x_eval = _batch(size, size, 1, batch=EVAL_BATCH)
    cache: dict[str, Weights] = {}

    def weights() -> Weights:  # calibrated once, at a small size: the statistics' scale carries over
        if "eval" not in cache:
            cache["eval"] = calibrated_weights(ms, _batch(*CALIBRATION_SIZE, 3, batch=CALIBRATION_BATCH))
        return cache["eval"]

    x_train = _batch(*TRAIN_SIZE, 2, batch=BATCH)

    def train_weights() -> Weights:  # when L3 first needs them (EfficientNet-L2: 1.9 GB)
        if "train" not in cache:
            cache["train"] = calibrated_weights(ms_train, x_train, seed=1)
        return cache["train"]

    labels = np.arange(BATCH) % ms.num_classes
    steps = [
        Plan("L0", "architecture", lambda: _architecture(adapter, ms)),
        Plan(
            "L1",
            f"eval {size}x{size}",
            lambda: _against_reference(adapter, ms, weights(), x_eval, training=False),
        ),
    ]
    for i, (h, w) in enumerate(ODD_SIZES):
        x = _batch(h, w, 10 + i, batch=EVAL_BATCH)
        steps.append(
            Plan(
                "L2",
                f"eval {h}x{w}",
                lambda x=x: _against_reference(adapter, ms, weights(), x, training=False),
            )
        )
    steps.append(
        Plan(
            "L3",
            f"train-mode forward and running statistics {TRAIN_SIZE[0]}x{TRAIN_SIZE[1]} x{BATCH}",
            lambda: _against_reference(adapter, ms_train, train_weights(), x_train, training=True),
            "training",
        )
    )
    steps.append(
        Plan(
            "L4",
            f"gradients {TRAIN_SIZE[0]}x{TRAIN_SIZE[1]} x{BATCH}",
            lambda: checks.grads_vs_reference(
                adapter, ms_train, train_weights(), x_train, labels, per_tensor=False
            ),
            "train_step",
        )
    )
    return [s for s in steps if LEVELS.index(s.level) <= LEVELS.index(up_to)]


def certify_model(
    adapter: Adapter,
    model: str,
    profile: str,
    up_to: str,
    deviations: Iterable[Deviation] = (),
    progress: Callable[[str], None] | None = None,
) -> ModelResult:
    ms = spec.resolve(model, profile=profile)
    ms_train = spec.resolve(model, profile=profile, dropout=0.0, drop_path={"rate": 0.0})
    result = ModelResult(model, profile, ms.spec_hash)
    declared = list(deviations)
    for step in plan(adapter, ms, ms_train, up_to):
        if progress:
            progress(f"{model} {step.level} {step.check}")
        if step.needs == "train_step" and not checks.trains(adapter):
            result.checks.append(
                CheckResult(model, profile, step.level, step.check, "skip", message="no train_step")
            )
            continue
        start = time.perf_counter()
        try:
            outcome = step.run()
        except NotImplementedError as err:
            result.checks.append(
                CheckResult(
                    model, profile, step.level, step.check, "skip", message=str(err) or "not implemented"
                )
            )
            continue
        except Exception as err:  # an adapter that crashes fails the check, with its message
            result.checks.append(
                CheckResult(
                    model,
                    profile,
                    step.level,
                    step.check,
                    "error",
                    seconds=time.perf_counter() - start,
                    message=f"{type(err).__name__}: {err}",
                )
            )
            continue
        record = CheckResult(
            model,
            profile,
            step.level,
            step.check,
            "pass" if outcome.ok else "fail",
            max_rel=outcome.max_rel,
            tolerance=outcome.bound,
            first_divergence=outcome.first_divergence,
            seconds=time.perf_counter() - start,
        )
        if not outcome.ok and (dev := matching(declared, model, step.level)) is not None:
            record.status, record.citation, record.message = "deviation", dev.cite, dev.reason
        result.checks.append(record)
    return result
