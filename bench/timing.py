"""Timing rules: warm-up/compile excluded from steady state but reported;
N steps between two synchronisations; median of several repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """What is timed: ``run()`` does one step; ``sync(out)`` waits until its work is done."""

    run: Callable[[], Any]
    sync: Callable[[Any], Any]


@dataclass(frozen=True)
class Timing:
    compile_s: float  # first call (trace + compile + one step)
    step_s: float  # median seconds per step
    repeats: tuple[float, ...]  # seconds per step of each repeat

    def images_per_s(self, batch: int) -> float:
        return batch / self.step_s


def measure(
    step: Callable[[], Any], sync: Callable[[Any], Any], *, steps: int = 5, repeats: int = 3, warmup: int = 1
) -> Timing:
    start = time.perf_counter()
    sync(step())
    compile_s = time.perf_counter() - start
    for _ in range(warmup):
        sync(step())
    per_step = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = None
        for _ in range(steps):
            out = step()
        sync(out)
        per_step.append((time.perf_counter() - start) / steps)
    return Timing(compile_s, statistics.median(per_step), tuple(per_step))
