"""One measurement in a fresh process: ``python -m bench.worker '<json request>'`` prints one JSON
result line (the last line of its output)."""

from __future__ import annotations

import json
import platform
import resource
import sys
from typing import Any

from effnet import spec

from . import paired
from .steps import IMPLS, synthetic
from .timing import measure


def run(request: dict[str, Any]) -> dict[str, Any]:
    impl = IMPLS[request["impl"]]
    step_kind = request.get("step", "bare")
    classes = {"num_classes": request["num_classes"]} if request.get("num_classes") else {}
    if step_kind == "paired":
        return run_paired(request, classes)
    if step_kind == "bare":  # the minimal step: no regularization
        ms = spec.resolve(request["model"], dropout=0.0, drop_path={"rate": 0.0}, **classes)
    else:  # the training engine's step: the spec's dropout and stochastic depth
        ms = spec.resolve(request["model"], **classes)
    x, y = synthetic(ms, request["batch"], request["size"])
    args = (ms, x, y, request["mode"])
    if step_kind == "bare":
        step = impl.step(*args, request["kind"], request["device"], request["precision"])
    else:
        step = impl.engine_step(*args, request["device"], request["precision"], data=request.get("data"))
    t = measure(step.run, step.sync, steps=request["steps"], repeats=request["repeats"])
    return {
        **request,
        "compile_s": t.compile_s,
        "step_s": t.step_s,
        "repeats_s": list(t.repeats),
        "images_per_s": t.images_per_s(request["batch"]),
        "peak_memory_bytes": peak_memory(request["device"]),
        "versions": versions(request["impl"]),
    }


def run_paired(request: dict[str, Any], classes: dict[str, int]) -> dict[str, Any]:
    """The bare, engine and (with data) end-to-end steps of one backend, mode and size, timed in turn
    in this one process (``bench.paired``)."""
    impl = IMPLS[request["impl"]]
    bare_ms = spec.resolve(request["model"], dropout=0.0, drop_path={"rate": 0.0}, **classes)
    engine_ms = spec.resolve(request["model"], **classes)
    x, y = synthetic(engine_ms, request["batch"], request["size"])
    device, precision, mode = request["device"], request["precision"], request["mode"]
    steps = {
        "bare": impl.step(bare_ms, x, y, mode, "train", device, precision),
        "engine": impl.engine_step(engine_ms, x, y, mode, device, precision),
    }
    if request.get("data"):
        steps["end-to-end"] = impl.engine_step(engine_ms, x, y, mode, device, precision, data=request["data"])
    times = paired.measure(steps, steps_per_sample=request["steps"], samples=request["samples"])
    return {
        **request,
        "times_s": times,
        "ratios": paired.ratios(times),
        "peak_memory_bytes": peak_memory(device),
        "versions": versions(request["impl"]),
    }


def peak_memory(device: str) -> int | None:
    """Peak bytes: on a GPU what the framework allocated on the device; on a CPU the process's peak
    resident set size (everything: framework, model, data, step)."""
    if device == "cpu":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
        return int(sys.modules["torch"].cuda.max_memory_allocated())
    if "jax" in sys.modules:
        stats = sys.modules["jax"].devices()[0].memory_stats() or {}
        return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None
    return None


def versions(impl: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for module in ("torch", "torchvision", "timm", "jax", "flax", "tensorflow", "keras"):
        if module in sys.modules:
            out[module] = getattr(sys.modules[module], "__version__", "?")
    return out


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)
