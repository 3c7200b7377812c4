"""``effnet bench pipeline``: one row per schedule stage, written as JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from effnet import spec
from effnet.cli.main import main


def test_bench_pipeline_writes_one_row_per_stage(small_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    argv = ["bench", "pipeline", "--model", "efficientnetv2-b0", "--data", str(small_folder)]
    argv += ["--rule", "code", "--workers", "1", "--batch-size", "3", "--batches", "2", "--repeats", "1"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "pipeline_efficientnetv2-b0_code.json").read_text())
    stages = spec.schedule("efficientnetv2-b0", "code")
    rows = result["rows"]
    assert [r["stage"] for r in rows] == [s.index for s in stages]
    assert [(r["image_size"], r["augment"]) for r in rows] == [(s.image_size, s.augment) for s in stages]
    assert all(r["images"] == 6 and r["images_per_s"] > 0 and r["cpu_ms_per_image"] >= 0 for r in rows)
    assert result["data"]["train_images"] == 21 and result["plan"]["rule"] == "code"
    table = (out / "pipeline_efficientnetv2-b0_code.md").read_text()
    assert table.count("\n| ") == 1 + len(stages)  # header + one line per stage


def test_bench_pipeline_refuses_an_unknown_rule(small_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "pipeline", "--data", str(small_folder), "--rule", "fast", "--out", str(tmp_path)])
