"""Each backend needs only its own framework: with the other two frameworks' imports blocked, it builds
a model from the spec, runs a forward pass and a training step, and round-trips its canonical weights.

The nox sessions share one virtualenv holding every framework, so this, not an uninstalled package,
is what keeps `pip install effnet-spec[torch]` (or [jax], [tf]) honest."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_YAML

from .conftest import NAMES

ROOT = Path(__file__).resolve().parents[2]
# top-level modules of each framework
FRAMEWORK_MODULES = {
    "torch": ("torch", "torchvision", "timm"),
    "jax": ("jax", "jaxlib", "flax", "optax"),
    "tf": ("tensorflow", "keras", "tf_keras"),
}

# Runs in a fresh interpreter: argv = backend name, blocked module names (comma-separated), YAML path.
SCRIPT = """
import importlib.abc, json, sys

BLOCKED = set(sys.argv[2].split(","))
imported = []


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in BLOCKED:
            imported.append(name)
            raise ImportError(f"blocked by the isolation test: {name}")
        return None


sys.meta_path.insert(0, Blocker())

import numpy as np

from effnet import spec
from effnet.conformance import backends

adapter = backends.load(sys.argv[1])
ms = spec.resolve("tiny-net", file=sys.argv[3])
model = adapter.build(ms)
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 32, 32, 3)).astype(np.float32)
logits = adapter.forward(model, x)["logits"]
step = adapter.train_step(model, x, np.array([0, 3]), lr=0.01)
state = adapter.get_state(model)
adapter.set_state(model, state)
print(json.dumps({
    "logits_shape": list(logits.shape),
    "finite": bool(np.isfinite(logits).all() and np.isfinite(step.loss)),
    "state_tensors": len(state),
    "blocked_attempts": sorted(set(imported)),
}))
"""


@pytest.mark.parametrize("backend", NAMES)
def test_backend_runs_with_the_other_frameworks_blocked(backend, tmp_path):
    others = sorted(m for name, modules in FRAMEWORK_MODULES.items() if name != backend for m in modules)
    yaml_path = tmp_path / "tiny.yaml"
    yaml_path.write_text(TINY_YAML)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend, ",".join(others), str(yaml_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, f"{backend} failed with {others} blocked:\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["logits_shape"] == [2, 5]
    assert result["finite"]
    assert result["state_tensors"] > 0
