"""A diagnostic behind the JAX rows of ``docs/results/bench-engine-efficientnetv2-s-cpu.md``, not part of
the package: how much of the JAX engine step keeps both CPU threads busy.

It runs the engine step ``effnet train`` runs (``effnet.bench.engine_steps.ours``, synthetic batch),
traces ``--steps`` steps with ``jax.profiler``, and reads the XLA:CPU worker threads' events back from
the trace (``jax.profiler.ProfileData``): per thread the time it ran an operation, the time both
threads ran one at once, and per kind of operation (the HLO fusion name without its number) the time
it ran while the other thread had nothing to do. Prints a table and writes ``--out`` as JSON.

Usage: ``python docs/results/scripts/jax_step_occupancy.py --model efficientnetv2-s --size 128 --out f.json``
(any ``XLA_FLAGS`` in the environment apply).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import glob
import json
import os
import re
import tempfile
import time

import jax
import numpy as np

from effnet import spec
from effnet.bench.engine_steps import ours

Interval = tuple[int, int]


def union(intervals: list[Interval]) -> list[Interval]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def overlap(start: int, end: int, busy: list[Interval], starts: list[int]) -> int:
    """Nanoseconds of [start, end) covered by the sorted, disjoint ``busy`` intervals."""
    total, i = 0, max(bisect.bisect_right(starts, start) - 1, 0)
    while i < len(busy) and busy[i][0] < end:
        total += max(0, min(end, busy[i][1]) - max(start, busy[i][0]))
        i += 1
    return total


def worker_events(trace_dir: str) -> dict[str, list[tuple[int, int, str]]]:
    """(start, end, op name) of every operation each XLA:CPU worker thread ran."""
    path = sorted(glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True))[-1]
    threads: dict[str, list[tuple[int, int, str]]] = {}
    for plane in jax.profiler.ProfileData.from_file(path).planes:
        for line in plane.lines:
            if not line.name.startswith("tf_XLAEigen"):
                continue
            threads[line.name] = [
                (ev.start_ns, ev.start_ns + ev.duration_ns, ev.name)
                for ev in line.events
                if not ev.name.startswith(("ThunkExecutor", "end:")) and "Await" not in ev.name
            ]
    return threads


def occupancy(threads: dict[str, list[tuple[int, int, str]]], steps: int) -> dict[str, object]:
    busy = {name: union([(s, e) for s, e, _ in events]) for name, events in threads.items()}
    everything = [iv for ivs in busy.values() for iv in ivs]
    span = max(e for _, e in everything) - min(s for s, _ in everything)
    names = sorted(busy)
    both = 0
    if len(names) == 2:
        first, second = busy[names[0]], busy[names[1]]
        starts = [s for s, _ in second]
        both = sum(overlap(s, e, second, starts) for s, e in first)
    alone: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    for name in names:
        others = union([iv for other in names if other != name for iv in busy[other]])
        starts = [s for s, _ in others]
        for s, e, op in threads[name]:
            kind = re.sub(r"\.\d+$", "", op)
            total[kind] += e - s
            alone[kind] += (e - s) - overlap(s, e, others, starts)
    per_step = 1e6 * steps  # ns -> ms per step
    return {
        "threads": len(names),
        "traced_ms_per_step": span / per_step,
        "busy_ms_per_step": {n: sum(e - s for s, e in busy[n]) / per_step for n in names},
        "both_busy_ms_per_step": both / per_step,
        "ops": [
            {"kind": k, "ms_per_step": total[k] / per_step, "alone_ms_per_step": alone[k] / per_step}
            for k, _ in alone.most_common()
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnetv2-s")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    ms = spec.resolve(args.model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, args.size, args.size, 3)).astype(np.float32)
    y = rng.integers(0, ms.num_classes, args.batch_size)
    step = ours("jax", ms, x, y, "jit depthwise=shifted", "cpu", "fp32")
    step.run()  # compile
    timed = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step.run()
        timed.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir)
        for _ in range(args.steps):
            step.run()
        jax.profiler.stop_trace()
        result = occupancy(worker_events(trace_dir), args.steps)
    result = {
        "model": args.model,
        "size": args.size,
        "batch_size": args.batch_size,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "untraced_step_ms": 1000 * float(np.median(timed)),
        **result,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"step {result['untraced_step_ms']:.0f} ms untraced, {result['traced_ms_per_step']:.0f} ms traced")
    for name, ms_busy in result["busy_ms_per_step"].items():
        print(f"  thread {name}: busy {ms_busy:.0f} ms/step")
    print(f"  both threads busy: {result['both_busy_ms_per_step']:.0f} ms/step")
    print(f"  {'op kind':32s} {'ms/step':>8s} {'alone':>8s}")
    for op in result["ops"][:12]:
        print(f"  {op['kind']:32s} {op['ms_per_step']:8.1f} {op['alone_ms_per_step']:8.1f}")


if __name__ == "__main__":
    main()
