"""One measurement in a fresh process: ``python -m bench.worker '<json request>'`` prints one JSON
result line (the last line of its output)."""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

from effnet import spec

from .steps import IMPLS, synthetic
from .timing import measure


def run(request: dict[str, Any]) -> dict[str, Any]:
    impl = IMPLS[request["impl"]]
    ms = spec.resolve(request["model"], dropout=0.0, drop_path={"rate": 0.0})
    x, y = synthetic(ms, request["batch"], request["size"])
    step = impl.step(ms, x, y, request["mode"], request["kind"], request["device"], request["precision"])
    t = measure(step.run, step.sync, steps=request["steps"], repeats=request["repeats"])
    return {
        **request,
        "compile_s": t.compile_s,
        "step_s": t.step_s,
        "repeats_s": list(t.repeats),
        "images_per_s": t.images_per_s(request["batch"]),
        "versions": versions(request["impl"]),
    }


def versions(impl: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for module in ("torch", "torchvision", "timm", "jax", "flax", "tensorflow", "keras"):
        if module in sys.modules:
            out[module] = getattr(sys.modules[module], "__version__", "?")
    return out


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)
