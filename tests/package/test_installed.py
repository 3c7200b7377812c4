"""What `nox -s package` checks on the installed wheel (not the source tree): one top-level import
name, `effnet`, that sits beside distributions owning `spec`, `bench` and `conformance`."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

WHEELS = Path(os.environ.get("EFFNET_WHEELS", "dist"))


def _effnet_wheel() -> Path:
    (wheel,) = WHEELS.glob("effnet_spec-*.whl")
    return wheel


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_wheel_has_one_top_level_import_name():
    names = zipfile.ZipFile(_effnet_wheel()).namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == {"effnet"}
    assert "effnet/spec/models/efficientnet_v2.yaml" in names and "effnet/spec/schema.json" in names


def test_generic_names_stay_with_their_owner():
    out = _python(
        "import spec, bench, conformance, effnet.spec, effnet.conformance\n"
        "print(spec.OWNER, bench.OWNER, conformance.OWNER)\n"
        "print(effnet.spec.__file__)\n"
        "print(len(effnet.spec.names()))"
    )
    owners, effnet_file, count = out.splitlines()
    assert owners == "standin standin standin"
    assert "site-packages" in effnet_file, effnet_file  # the installed wheel, not the source tree
    assert int(count) == 18


def test_effnet_command_runs_from_the_wheel():
    out = subprocess.run(["effnet", "spec", "list"], check=True, capture_output=True, text=True).stdout
    assert out.splitlines()[0].split()[:2] == ["model", "family"]
    assert any(line.startswith("efficientnetv2-s ") for line in out.splitlines())


def test_backend_from_another_distribution_is_registered():
    out = subprocess.run(["effnet", "backends"], check=True, capture_output=True, text=True).stdout
    toy = next(line for line in out.splitlines() if line.startswith("numpy-toy "))
    assert "canonical" in toy and "yes" in toy  # its weights format; installed (numpy only)
    ok = _python(
        "import numpy as np\n"
        "from effnet import spec\n"
        "from effnet.conformance import backends\n"
        "a = backends.load('numpy-toy')\n"
        "ms = spec.resolve('efficientnetv2-b0', num_classes=4)\n"
        "m = a.build(ms)\n"
        "print(a.forward(m, np.zeros((1, 33, 33, 3), np.float32))['logits'].shape)"
    )
    assert ok.strip() == "(1, 4)"
