"""``effnet experiment progressive`` smoke: two epochs, two arms, a tiny architecture, on torch; each
arm in its own process; a second run of the same command keeps the finished arms."""

from __future__ import annotations

import json
from pathlib import Path

from effnet.cli.main import main
from tests.training.loop_checks import tiny_data
from tests.training.tiny_schedules import write_tiny_spec


def test_two_arm_smoke_and_resume(tmp_path: Path, capsys) -> None:
    out = tmp_path / "exp"
    command = [
        "experiment", "progressive", "--backend", "torch", "--model", "tiny-net",
        "--data", str(tiny_data(tmp_path / "data")), "--epochs", "2", "--seeds", "1",
        "--rules", "code", "--arms", "fixed-small,progressive-adaptive", "--batch-size", "8",
        "--workers", "2", "--file", str(write_tiny_spec(tmp_path / "tiny.yaml")), "--out", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    arms = {row["arm"]: row for row in results["arms"]}
    assert list(arms) == ["fixed-small.code", "progressive-adaptive.code"]
    assert arms["fixed-small.code"]["sizes"] == [24] and arms["progressive-adaptive.code"]["sizes"] == [
        24,
        32,
    ]
    for row in arms.values():
        (run,) = row["runs"]
        assert 0.0 <= run["val_accuracy"] <= 1.0 and run["train_s"] > 0 and row["images_per_s"] > 0
        assert [p["image_size"] for p in run["curve"]] == (row["sizes"] * 2)[:2]
    adaptive = out / "arms" / "progressive-adaptive.code" / "seed-0"
    applied = [json.loads(line)["applied"] for line in (adaptive / "metrics.jsonl").read_text().splitlines()]
    assert [(a["augment"], a["cutmix_alpha"], a["mixup_alpha"]) for a in applied] == [
        ("autoaugment", 0.0, 0.0),
        ("autoaugment", 0.2, 0.2),
    ]
    assert "fixed-small.code" in (out / "results.md").read_text()
    assert (out / "accuracy_vs_time.png").read_bytes()[:4] == b"\x89PNG"

    capsys.readouterr()
    assert main(command) == 0  # everything finished: nothing runs again
    assert capsys.readouterr().out.count("done before, kept") == 2
    # a run that finished after the experiment's process was killed has no wall.json: its results
    # stand, its process time is unknown (it once stopped the report with "no such file")
    (adaptive / "wall.json").unlink()
    assert main(command) == 0
    arms = {row["arm"]: row for row in json.loads((out / "results.json").read_text())["arms"]}
    assert arms["progressive-adaptive.code"]["process_s"] is None
    assert arms["progressive-adaptive.code"]["runs"][0]["val_accuracy"] >= 0.0
    assert arms["fixed-small.code"]["process_s"] > 0 and "| n/a |" in (out / "results.md").read_text()
    again = [main([*command[:-2], "--epochs", "3", "--out", str(out)])]
    assert again == [1] and "other settings: epochs '2' (now '3')" in capsys.readouterr().err
