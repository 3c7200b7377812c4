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
    # bf16: our engines and timm's train.py step, bare, engine and end to end; fp32 (on CPU): torch only
    bf16 = {(i, s) for i in ("torch", "jax", "timm") for s in ("bare", "engine", "end-to-end")}
    for precision, expected in (
        ("bf16", bf16 - {("timm", "end-to-end")}),
        ("fp32", {("torch", s) for s in ("bare", "engine")}),
    ):
        result = json.loads((tmp_path / f"train_efficientnetv2-b0_cpu_{precision}_engine.json").read_text())
        rows = {(r["impl"], r["step"]): r for r in result["rows"]}
        assert set(rows) == expected
        for r in rows.values():
            assert "error" not in r and r["images_per_s"] > 0 and r["peak_memory_bytes"] > 0
        cell = result["summary"]["per_size"]["33"]
        assert all(f"{i} engine / bare" in cell["ratios"] for i in ("torch", "jax") if (i, "engine") in rows)
    summary = json.loads((tmp_path / "train_efficientnetv2-b0_cpu_bf16_engine.json").read_text())["summary"]
    assert summary["per_size"]["33"]["engine"]["parity"] >= 1.0  # over torch and JAX
    assert "torch vs timm" in summary["per_size"]["33"]["engine"]["ours_over_reference"]
    assert "jax end-to-end / engine" in summary["per_size"]["33"]["ratios"]
    assert "torch" in (tmp_path / "device.txt").read_text()
