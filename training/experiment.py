"""``effnet experiment progressive``: the progressive-learning ablation, arm by arm, seed by seed.

Each (arm, seed) runs in its own process (:mod:`training.arm_run`), one after another, into
``OUT/arms/<arm>/seed-<s>/`` (the usual ``metrics.jsonl``, ``summary.json``, checkpoints). An
interrupted experiment resumes when the same command is run again: finished runs (a
``summary.json``) are kept, an unfinished one continues from its last checkpoint. ``OUT/experiment.json``
records the settings; a rerun with other settings (model, backend, data, epochs, batch, learning rate,
init, spec file) is refused, while more seeds or arms may be added.

Reported per arm (``OUT/results.json``, ``OUT/results.md``, ``OUT/accuracy_vs_time.png``):

- validation accuracy at the model's eval size after the last epoch (EMA weights): mean and sample
  standard deviation over seeds;
- training time: the time in the training steps of every epoch, data loading included, evaluation
  and checkpointing excluded (``steps * batch / images_per_s`` from each epoch's record, so it
  survives a resume); mean and standard deviation over seeds;
- images/s: all training images over all training time;
- process wall time: the arm's processes from start to exit (startup, evaluations, checkpoints
  included), summed over resumes; unknown ("n/a") for a run whose process outlived the experiment's.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .arms import ARMS, Arm, plan

SETTINGS = ("backend", "model", "data", "epochs", "batch_size", "lr_per_256", "init", "spec_file")


class ExperimentError(RuntimeError):
    """An arm's process failed, or the output folder belongs to an experiment with other settings."""


@dataclass(frozen=True)
class ExperimentConfig:
    backend: str
    model: str
    data: Path
    out: Path
    epochs: int
    seeds: tuple[int, ...] = (0,)
    rules: tuple[str, ...] = ("paper", "code")
    arms: tuple[str, ...] = ARMS
    batch_size: int = 32
    lr_per_256: float | None = None
    init: str = "fan_in"
    workers: int | None = None
    spec_file: Path | None = None
    progress: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # recorded beside the settings, e.g. the command


def run_experiment(cfg: ExperimentConfig) -> dict[str, Any]:
    arms = plan(cfg.model, cfg.epochs, cfg.rules, cfg.arms, cfg.spec_file)
    _check_settings(cfg)
    for arm in arms:
        for seed in cfg.seeds:
            _run_arm(cfg, arm, seed)
    results = collect(cfg, arms)
    write_results(cfg.out, results)
    return results


def _settings(cfg: ExperimentConfig) -> dict[str, Any]:
    values = asdict(cfg)
    return {k: (str(values[k]) if values[k] is not None else None) for k in SETTINGS}


def _check_settings(cfg: ExperimentConfig) -> None:
    path = cfg.out / "experiment.json"
    ours = _settings(cfg)
    if path.exists():
        theirs = json.loads(path.read_text())["settings"]
        differ = [f"{k} {theirs.get(k)!r} (now {ours[k]!r})" for k in SETTINGS if theirs.get(k) != ours[k]]
        if differ:
            raise ExperimentError(f"{cfg.out} holds an experiment with other settings: " + ", ".join(differ))
    cfg.out.mkdir(parents=True, exist_ok=True)
    record = {"settings": ours, "seeds": list(cfg.seeds), "rules": list(cfg.rules), "arms": list(cfg.arms)}
    path.write_text(json.dumps({**record, **cfg.extra}, indent=1) + "\n")


def run_dir(out: Path, arm: Arm, seed: int) -> Path:
    return out / "arms" / arm.name / f"seed-{seed}"


def _run_arm(cfg: ExperimentConfig, arm: Arm, seed: int) -> None:
    out = run_dir(cfg.out, arm, seed)
    if (out / "summary.json").exists():
        print(f"{arm.name} seed {seed}: done before, kept")
        return
    out.mkdir(parents=True, exist_ok=True)
    request = {
        "backend": cfg.backend,
        "model": cfg.model,
        "data": str(cfg.data),
        "out": str(out),
        "epochs": cfg.epochs,
        "rule": arm.rules[0],
        "batch_size": cfg.batch_size,
        "seed": seed,
        "progress": cfg.progress,
        "workers": cfg.workers,
        "lr_per_256": cfg.lr_per_256,
        "init": cfg.init,
        "spec_file": str(cfg.spec_file) if cfg.spec_file else None,
        "stages": [s.to_dict() for s in arm.stages],
    }
    (out / "request.json").write_text(json.dumps(request, indent=1) + "\n")
    print(f"{arm.name} seed {seed}: sizes {[s.image_size for s in arm.stages]} ...", flush=True)
    started = time.perf_counter()
    returncode = _run_child([sys.executable, "-m", "effnet.training.arm_run", str(out / "request.json")])
    wall = out / "wall.json"
    previous = json.loads(wall.read_text())["process_s"] if wall.exists() else 0.0
    wall.write_text(json.dumps({"process_s": previous + time.perf_counter() - started}) + "\n")
    if returncode != 0:
        raise ExperimentError(
            f"{arm.name} seed {seed} failed (exit status {returncode}); run the same command again "
            "to resume from its last checkpoint"
        )
    summary = json.loads((out / "summary.json").read_text())
    print(f"{arm.name} seed {seed}: val accuracy {summary['final_val_accuracy']:.3f}", flush=True)


def _run_child(command: list[str]) -> int:
    """Run the arm's process and return its exit status. If this process is stopped (Ctrl-C, or a
    SIGTERM sent to it alone) the arm's process is stopped too, not left running on its own: the same
    command resumes it from its last checkpoint."""
    child = subprocess.Popen(command)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    main_thread = threading.current_thread() is threading.main_thread()  # where handlers may be set
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        return child.wait()
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _train_seconds(record: dict[str, Any], batch_size: int) -> float:
    return record["steps"] * batch_size / record["images_per_s"]


def _process_seconds(out: Path) -> float | None:
    """The run's process wall time, or None if unknown: ``wall.json`` is written by the experiment's
    process when the run's process exits, so a run that finished after the experiment's process was
    stopped has none (its results stand; only this figure is missing)."""
    wall = out / "wall.json"
    return json.loads(wall.read_text())["process_s"] if wall.exists() else None


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def collect(cfg: ExperimentConfig, arms: list[Arm]) -> dict[str, Any]:
    rows = []
    for arm in arms:
        runs = []
        for seed in cfg.seeds:
            out = run_dir(cfg.out, arm, seed)
            summary = json.loads((out / "summary.json").read_text())
            records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            train_s = [_train_seconds(r, cfg.batch_size) for r in records]
            runs.append(
                {
                    "seed": seed,
                    "val_accuracy": summary["final_val_accuracy"],
                    "train_s": sum(train_s),
                    "images": sum(r["steps"] * cfg.batch_size for r in records),
                    "process_s": _process_seconds(out),
                    "curve": [
                        {
                            "train_s": sum(train_s[: i + 1]),
                            "val_accuracy": r["val_accuracy"],
                            "image_size": r["applied"]["image_size"],
                        }
                        for i, r in enumerate(records)
                    ],
                }
            )
            eval_size, chance = summary["final_eval_image_size"], summary["chance"]
        acc, acc_sd = _mean_sd([r["val_accuracy"] for r in runs])
        train, train_sd = _mean_sd([r["train_s"] for r in runs])
        last = arm.stages[-1]
        rows.append(
            {
                "arm": arm.name,
                "kind": arm.kind,
                "rules": list(arm.rules),
                "sizes": [s.image_size for s in arm.stages],
                "final_regularisation": {
                    "augment": last.augment,
                    "randaug_magnitude": last.randaug_magnitude,
                    "mixup_alpha": last.mixup_alpha,
                    "cutmix_alpha": last.cutmix_alpha,
                    "dropout": last.dropout,
                },
                "adaptive_regularisation": len(
                    {(s.randaug_magnitude, s.mixup_alpha, s.dropout) for s in arm.stages}
                )
                > 1,
                "val_accuracy": {"mean": acc, "sd": acc_sd},
                "train_s": {"mean": train, "sd": train_sd},
                "images_per_s": sum(r["images"] for r in runs) / max(sum(r["train_s"] for r in runs), 1e-9),
                "process_s": (  # None unless known for every seed: a mean over fewer is not the arm's
                    statistics.fmean(r["process_s"] for r in runs)
                    if all(r["process_s"] is not None for r in runs)
                    else None
                ),
                "runs": runs,
            }
        )
    return {
        "settings": _settings(cfg),
        "seeds": list(cfg.seeds),
        "eval_image_size": eval_size,
        "chance": chance,
        "spread": "sample standard deviation over seeds (0 with one seed)",
        "arms": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [
        f"{s['model']} on {s['backend']}, {s['epochs']} epochs, batch {s['batch_size']}, seeds "
        f"{', '.join(map(str, results['seeds']))}; validation accuracy at {results['eval_image_size']} px "
        f"(chance {results['chance']:.3f}); ± is the {results['spread']}.",
        "",
        "| arm | sizes | final regularisation | val accuracy | train time (s) | images/s | process (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["arms"]:
        reg = row["final_regularisation"]
        aug = (
            "AutoAugment" if reg["augment"] == "autoaugment" else f"RandAugment {reg['randaug_magnitude']:g}"
        )
        reg_text = (
            f"{aug}, mixup {reg['mixup_alpha']:g}, cutmix {reg['cutmix_alpha']:g}, dropout {reg['dropout']:g}"
        )
        if row["adaptive_regularisation"]:
            reg_text += " (grows with size)"
        acc, train = row["val_accuracy"], row["train_s"]
        lines.append(
            f"| {row['arm']} | {'/'.join(map(str, row['sizes']))} | {reg_text} "
            f"| {acc['mean']:.3f} ± {acc['sd']:.3f} | {train['mean']:.1f} ± {train['sd']:.1f} "
            f"| {row['images_per_s']:.1f} | {_seconds(row['process_s'])} |"
        )
    if any(row["process_s"] is None for row in results["arms"]):
        lines += ["", "n/a: a run of the arm finished after the experiment's own process was stopped."]
    return "\n".join(lines) + "\n"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, row in enumerate(results["arms"]):
        color = f"C{i % 10}"
        curves = [r["curve"] for r in row["runs"]]
        n = min(len(c) for c in curves)
        xs = [statistics.fmean(c[e]["train_s"] for c in curves) for e in range(n)]
        ys = [statistics.fmean(c[e]["val_accuracy"] for c in curves) for e in range(n)]
        ax.plot(xs, ys, "o-", color=color, alpha=0.6, label=f"{row['arm']} (per epoch, at the epoch's size)")
        acc, train = row["val_accuracy"], row["train_s"]
        ax.errorbar(
            train["mean"],
            acc["mean"],
            xerr=train["sd"],
            yerr=acc["sd"],
            fmt="*",
            ms=14,
            color=color,
            capsize=3,
        )
    ax.axhline(results["chance"], color="grey", ls=":", label="chance")
    s = results["settings"]
    ax.set(
        xlabel="training time (s)",
        ylabel="validation accuracy",
        ylim=(0, 1),
        title=f"{s['model']} on {s['backend']}, {s['epochs']} epochs: stars at "
        f"{results['eval_image_size']} px, mean ± sd over {len(results['seeds'])} seed(s)",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_results(out: Path, results: dict[str, Any]) -> None:
    for name, text in (
        ("results.json", json.dumps(results, indent=1) + "\n"),
        ("results.md", markdown(results)),
    ):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)
    plot(results, out / "accuracy_vs_time.png")
