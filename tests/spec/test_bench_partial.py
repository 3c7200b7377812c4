"""The benchmark never reports a partial figure as whole: a requested implementation with no
selected mode is refused before anything runs, and one whose measurements all failed voids parity."""

from __future__ import annotations

from effnet.bench.run import Plan, summarise
from effnet.cli.main import main


def test_modes_that_leave_out_a_requested_implementation_are_refused(capsys):
    code = main(
        ["bench", "train", "--backends", "torch,jax,tf", "--modes", "eager NCHW,no XLA", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "selects no mode of jax" in err and err.count("\n") == 1


def test_unknown_mode_is_refused(capsys):
    assert main(["bench", "train", "--backends", "torch", "--modes", "jit", "--no-progress"]) == 2
    assert "unknown mode(s) ['jit']" in capsys.readouterr().err


def test_bench_modes_lists_every_implementation(capsys):
    assert main(["bench", "modes"]) == 0
    out = capsys.readouterr().out
    assert "'jit depthwise=xla'" in out and "'no XLA'" in out and out.startswith("torch ")


def test_a_failed_implementation_voids_parity():
    plan = Plan("train", ("torch", "jax", "tf"), "efficientnetv2-b0", (128,), 16, "fp32", "cpu", 1, 1)
    ok = {"size": 128, "images_per_s": 100.0, "mode": "m"}
    rows = [
        {**ok, "impl": "torch"},
        {**ok, "impl": "tf", "images_per_s": 50.0},
        {"impl": "jax", "size": 128, "mode": "m", "error": "died"},
    ]
    cell = summarise(plan, rows)["per_size"]["128"]["bare"]
    assert cell["parity"] is None and cell["parity_void"] == "no measurement of jax"
    rows[2] = {**ok, "impl": "jax", "images_per_s": 80.0}
    assert summarise(plan, rows)["per_size"]["128"]["bare"]["parity"] == 2.0


def test_engine_parity_and_ratios_are_per_step():
    plan = Plan("train", ("torch", "jax"), "efficientnetv2-b0", (64,), 4, "fp32", "cpu", 1, 1, step="engine")
    row = {"size": 64, "mode": "m"}
    rows = [
        {**row, "impl": "torch", "step": "bare", "images_per_s": 100.0},
        {**row, "impl": "jax", "step": "bare", "images_per_s": 50.0},
        {**row, "impl": "torch", "step": "engine", "images_per_s": 90.0},
        {**row, "impl": "jax", "step": "engine", "error": "died"},
    ]
    cells = summarise(plan, rows)["per_size"]["64"]
    assert cells["bare"]["parity"] == 2.0
    assert cells["engine"]["parity"] is None and cells["engine"]["parity_void"] == "no measurement of jax"
    assert cells["ratios"] == {"torch engine / bare": 0.9}


def test_an_implementation_without_an_engine_step_is_refused(capsys):
    code = main(["bench", "train", "--step", "engine", "--backends", "torch,torchvision", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no engine step for torchvision" in err and err.count("\n") == 1


def test_data_needs_the_engine_step(capsys):
    assert main(["bench", "train", "--data", "builtin", "--no-progress"]) == 2
    assert "needs --step engine" in capsys.readouterr().err


def test_ours_over_reference_compares_modes_both_run():
    plan = Plan("train", ("torch", "torchvision"), "efficientnetv2-b0", (64,), 4, "fp32", "cpu", 1, 1)
    row = {"size": 64, "step": "bare"}
    rows = [
        {**row, "impl": "torch", "mode": "compile channels_last", "images_per_s": 300.0},
        {**row, "impl": "torch", "mode": "eager channels_last", "images_per_s": 110.0},
        {**row, "impl": "torchvision", "mode": "eager channels_last", "images_per_s": 100.0},
    ]
    cell = summarise(plan, rows)["per_size"]["64"]["bare"]
    assert cell["ours_over_reference"] == {"torch vs torchvision": 1.1}
    assert cell["best"]["torch"]["mode"] == "compile channels_last"
