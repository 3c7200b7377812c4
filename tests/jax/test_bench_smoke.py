"""`effnet bench train|infer` run and write well-formed numbers (speed itself is never asserted)."""

import json

import pytest

from effnet_cli.main import main


@pytest.mark.parametrize("kind", ["train", "infer"])
def test_bench_smoke(tmp_path, capsys, kind):
    argv = [
        "bench",
        kind,
        "--backends",
        "torch,jax,torchvision",
        "--model",
        "efficientnetv2-b0",
        "--sizes",
        "33",
        "--batch-size",
        "2",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--modes",
        "eager NCHW,jit depthwise=shifted",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(argv) == 0, capsys.readouterr()
    result = json.loads((tmp_path / f"{kind}_efficientnetv2-b0_cpu_fp32.json").read_text())
    rows = result["rows"]
    assert [(r["impl"], r["mode"]) for r in rows] == [
        ("torch", "eager NCHW"),
        ("jax", "jit depthwise=shifted"),
        ("torchvision", "eager NCHW"),
    ]
    for r in rows:
        assert "error" not in r and r["step_s"] > 0 and r["compile_s"] > 0 and r["images_per_s"] > 0
        assert 0 < r["mfu"] < 1
    summary = result["summary"]["per_size"]["33"]
    assert summary["parity"] >= 1.0 and "torch vs torchvision" in summary["ours_over_reference"]
    assert (tmp_path / f"{kind}_efficientnetv2-b0_cpu_fp32.png").read_bytes()[:4] == b"\x89PNG"
    assert "parity" in (tmp_path / f"{kind}_efficientnetv2-b0_cpu_fp32.md").read_text()
