"""``--paired``: the engine's overheads from steps timed in turn in one process (``bench.paired``)."""

from __future__ import annotations

from effnet.bench import paired
from effnet.bench.run import Plan, paired_requests
from effnet.bench.timing import Step
from effnet.cli.main import main


def test_kinds_are_timed_in_turn_with_the_first_rotating():
    calls: list[str] = []

    def step(kind: str) -> Step:
        return Step(lambda: calls.append(kind), lambda out: out)

    times = paired.measure(
        {k: step(k) for k in ("bare", "engine", "end-to-end")}, steps_per_sample=1, samples=3
    )
    assert [len(v) for v in times.values()] == [3, 3, 3]
    timed = calls[6:]  # after two warm-up calls of each
    assert timed == [
        "bare",
        "engine",
        "end-to-end",
        "engine",
        "end-to-end",
        "bare",
        "end-to-end",
        "bare",
        "engine",
    ]


def test_ratios_are_per_sample_in_images_per_second():
    times = {"bare": [1.0, 2.0, 1.0], "engine": [1.25, 2.0, 2.0], "end-to-end": [2.5, 2.0, 2.0]}
    r = paired.ratios(times)
    assert r["engine / bare"]["samples"] == [0.8, 1.0, 0.5]
    assert (r["engine / bare"]["median"], r["engine / bare"]["min"], r["engine / bare"]["max"]) == (
        0.8,
        0.5,
        1.0,
    )
    assert r["end-to-end / engine"]["samples"] == [0.5, 1.0, 1.0]
    assert "end-to-end / engine" not in paired.ratios({"bare": [1.0], "engine": [1.0]})


def test_one_paired_request_per_backend_mode_and_size_of_ours():
    plan = Plan(
        "train",
        ("torch", "jax", "timm"),
        "efficientnetv2-b0",
        (64, 96),
        4,
        "fp32",
        "cpu",
        1,
        1,
        modes=("eager NCHW", "jit depthwise=shifted"),
        step="engine",
        data="builtin",
        paired=5,
    )
    got = [(r["impl"], r["mode"], r["size"], r["samples"], r["data"]) for r in paired_requests(plan)]
    assert got == [
        ("torch", "eager NCHW", 64, 5, "builtin"),
        ("jax", "jit depthwise=shifted", 64, 5, "builtin"),
        ("torch", "eager NCHW", 96, 5, "builtin"),
        ("jax", "jit depthwise=shifted", 96, 5, "builtin"),
    ]
    assert (
        paired_requests(Plan("train", ("torch",), "efficientnetv2-b0", (64,), 4, "fp32", "cpu", 1, 1)) == []
    )


def test_paired_without_the_engine_step_is_refused(capsys):
    assert main(["bench", "train", "--backends", "torch", "--paired", "3", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--paired" in err and "--step engine" in err and err.count("\n") == 1
    assert main(["bench", "train", "--step", "engine", "--backends", "torch", "--paired", "-1"]) == 2
    assert "--paired" in capsys.readouterr().err


def test_the_markdown_shows_each_ratio_with_its_spread():
    row = {
        "size": 64,
        "impl": "torch",
        "mode": "eager NCHW",
        "batch": 4,
        "times_s": {"bare": [1.0, 1.0, 1.0], "engine": [1.0, 1.25, 2.0]},
    }
    row["ratios"] = paired.ratios(row["times_s"])
    text = "\n".join(paired.summary_rows([row, {**row, "error": "died"}]))
    assert "| 64 | torch | eager NCHW | 4.0 | 3.2 |  | **0.80** [0.50, 1.00] |  | 3 |" in text
    assert "failed: died" in text


def test_the_chart_adds_a_panel_of_paired_ratios(tmp_path):
    from effnet.bench.run import chart

    times = {"bare": [1.0, 1.1], "engine": [1.1, 1.2], "end-to-end": [1.2, 1.2]}
    pair = {
        "impl": "torch",
        "size": 64,
        "mode": "m",
        "batch": 4,
        "times_s": times,
        "ratios": paired.ratios(times),
    }
    row = {"impl": "torch", "mode": "m", "size": 64, "step": "bare", "images_per_s": 4.0}
    plan = {"kind": "train", "model": "efficientnetv2-b0", "batch": 4, "precision": "fp32", "device": "cpu"}
    for name, result in (
        ("rows", {"plan": plan, "rows": [row]}),
        ("both", {"plan": plan, "rows": [row], "paired": [pair]}),
    ):
        chart(result, tmp_path / f"{name}.png")
    import matplotlib.image

    rows_only, both = (matplotlib.image.imread(tmp_path / f"{n}.png") for n in ("rows", "both"))
    assert both.shape[0] > 1.5 * rows_only.shape[0]  # a second panel below the first
