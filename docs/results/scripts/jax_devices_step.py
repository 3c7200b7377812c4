"""A diagnostic behind ``docs/results/bench-engine-efficientnetv2-s-cpu.md``, not part of the package:
the JAX engine step (the one ``effnet train`` runs, fp32, the CPU's shifted depthwise kernel) on one
logical CPU device, or on ``--devices N`` (the CPU split into N logical devices, the global batch
sharded over them, as ``effnet train --devices N`` runs it). Prints one JSON line: compile seconds,
each timed step in ms, and images/s at the median step.

Usage: ``python docs/results/scripts/jax_devices_step.py --devices 2 --size 128``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from effnet import spec
from effnet.execution import Execution
from effnet.spec.recipe import recipe
from effnet.training.engine import create


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--model", default="efficientnetv2-s")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    ms = spec.resolve(args.model)
    rec = recipe(ms.name, batch_size=args.batch_size)
    engine = create("jax", ms, rec, seed=0, devices=args.devices, execution=Execution(precision="fp32"))
    for model in (engine.model, engine.ema):  # type: ignore[attr-defined]
        model.set_depthwise_mode("shifted")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, args.size, args.size, 3), dtype=np.float32)
    y = np.eye(ms.num_classes, dtype=np.float32)[rng.integers(0, ms.num_classes, args.batch_size)]
    started = time.perf_counter()
    engine.train_step(x, y, 0.01)
    compile_s = time.perf_counter() - started
    steps = []
    for _ in range(args.steps):
        started = time.perf_counter()
        engine.train_step(x, y, 0.01)
        steps.append(time.perf_counter() - started)
    record = {
        "model": args.model,
        "size": args.size,
        "batch": args.batch_size,
        "devices": args.devices,
        "compile_s": round(compile_s, 1),
        "step_ms": [round(1000 * s) for s in steps],
        "images_per_s": round(args.batch_size / statistics.median(steps), 2),
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
