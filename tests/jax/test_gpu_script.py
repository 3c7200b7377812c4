"""The prepared GPU device check runs end to end on CPU at tiny sizes (what CI can check)."""

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_script_on_cpu(tmp_path):
    proc = subprocess.run(
        ["bash", str(ROOT / "conformance/gpu/run.sh"), "--device", "cpu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for precision in ("bf16", "fp32"):
        result = json.loads((tmp_path / f"train_efficientnetv2-b0_cpu_{precision}.json").read_text())
        assert {r["impl"] for r in result["rows"]} == {"torch", "jax"}
        assert all("error" not in r and r["images_per_s"] > 0 for r in result["rows"])
    assert "torch" in (tmp_path / "device.txt").read_text()
