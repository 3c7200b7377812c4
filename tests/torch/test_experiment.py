"""``effnet experiment progressive`` smoke: two epochs, two arms, a tiny architecture, on torch; each
arm in its own process; a second run of the same command keeps the finished arms."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def _processes_reading(path: Path) -> list[int]:
    """Pids whose command line names ``path`` (the arm processes of one experiment)."""
    found = []
    for entry in (e for e in Path("/proc").iterdir() if e.name.isdigit()):
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        if str(path) in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process command lines from /proc")
def test_a_stopped_experiment_stops_its_arm_and_resumes(tmp_path: Path) -> None:
    """SIGTERM to the experiment's process alone (not its process group, as Ctrl-C would) once left
    the arm's process training on its own; now it is stopped with it, and the same command finishes."""
    out = tmp_path / "exp"
    command = [
        sys.executable, "-m", "effnet", "experiment", "progressive", "--backend", "torch",
        "--model", "tiny-net", "--data", str(tiny_data(tmp_path / "data")), "--epochs", "20",
        "--seeds", "1", "--rules", "code", "--arms", "fixed-small", "--batch-size", "8",
        "--workers", "1", "--file", str(write_tiny_spec(tmp_path / "tiny.yaml")), "--out", str(out),
    ]  # fmt: skip
    experiment = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    arm = out / "arms" / "fixed-small.code" / "seed-0" / "request.json"
    deadline = time.monotonic() + 120
    while not _processes_reading(arm):
        assert experiment.poll() is None and time.monotonic() < deadline, "the arm's process never started"
        time.sleep(0.05)
    experiment.send_signal(signal.SIGTERM)
    assert experiment.wait(timeout=90) != 0
    deadline = time.monotonic() + 60  # the arm's SIGTERM: it stops mid-run, well before 20 epochs end
    while _processes_reading(arm) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_reading(arm) == [], "the arm's process outlived the experiment's"
    assert not (arm.parent / "summary.json").exists(), "the arm's process ran on to the end alone"
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "results.json").read_text())["arms"][0]["runs"][0]["val_accuracy"] >= 0.0
