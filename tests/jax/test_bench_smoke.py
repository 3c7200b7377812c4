"""`effnet bench train|infer` run and write well-formed numbers (speed itself is never asserted)."""

import json

import pytest

from effnet.bench.run import merge_rounds
from effnet.cli.main import main


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
        assert len(r["rounds_step_s"]) == 1  # (rounds: test_rounds_merge_to_the_median_or_the_fastest_round)
    summary = result["summary"]["per_size"]["33"]["bare"]
    assert summary["parity"] >= 1.0 and "torch vs torchvision" in summary["ours_over_reference"]
    assert (tmp_path / f"{kind}_efficientnetv2-b0_cpu_fp32.png").read_bytes()[:4] == b"\x89PNG"
    assert "parity" in (tmp_path / f"{kind}_efficientnetv2-b0_cpu_fp32.md").read_text()


def test_rounds_merge_to_the_median_or_the_fastest_round():
    def row(impl, step_s, **extra):
        return {"impl": impl, "mode": "m", "size": 64, "step_s": step_s, **extra}

    measured = [row("a", 3.0), row("b", 1.0), row("a", 1.0), row("b", 0, error="boom"), row("a", 2.0)]
    measured.append(row("c", 0, error="first"))
    measured.append(row("c", 0, error="second"))
    merged = {r["impl"]: r for r in merge_rounds(measured)}
    assert merged["a"]["step_s"] == 2.0 and merged["a"]["rounds_step_s"] == [3.0, 1.0, 2.0]
    assert merged["b"]["step_s"] == 1.0 and "error" not in merged["b"]
    assert merged["c"]["error"] == "second"
    fastest = {r["impl"]: r for r in merge_rounds(measured, "fastest")}
    assert fastest["a"]["step_s"] == 1.0 and fastest["a"]["rounds_step_s"] == [3.0, 1.0, 2.0]
    assert fastest["b"]["step_s"] == 1.0 and fastest["c"]["error"] == "second"
    with pytest.raises(ValueError, match="statistic"):
        merge_rounds(measured, "mean")
