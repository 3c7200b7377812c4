"""The framework-neutral progressive-learning loop behind ``effnet train``.

Each epoch: the stage from ``spec.schedule`` (the loop interpolates nothing) sets the image size,
RandAugment magnitude and mixup alpha of a fresh input pipeline and the model's dropout; the
settings actually applied (read back from the pipeline's batches and the model) are logged. A stage
change rebuilds the pipeline and makes compiled backends retrace; that first step's extra time is
reported as ``compile_s``. Metrics go to ``metrics.jsonl`` (one JSON object per epoch), a checkpoint
is written each epoch (native + canonical; the last ``keep_checkpoints`` and the best are kept), and
a PNG plot and a final evaluation at the spec's eval size close the run.

Before anything is written, ``training.resume`` decides where the run starts (and refuses to
overwrite a run); a loss that is not finite stops the run at once, keeping the last good checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from effnet import spec
from effnet.execution import Execution
from effnet.spec import ModelSpec, Stage
from effnet.spec.recipe import Recipe, recipe
from effnet.weights_convert import save_canonical

from . import checkpoint, resume
from .dataset import ImageFolder, scan
from .engine import Engine, create
from .errors import TrainError
from .pipeline import Pipeline


@dataclass(frozen=True)
class RunConfig:
    backend: str
    model: str
    data: Path
    out: Path
    epochs: int | None = None
    rule: str = "paper"
    batch_size: int = 32
    seed: int = 0
    resume: bool = False
    progress: bool = True
    workers: int | None = None
    devices: int | None = None  # local devices to replicate over (see training.engine.create)
    lr_per_256: float | None = None  # overrides the spec recipe's peak learning rate per 256 images
    init: str = "fan_in"  # spec.init scheme of the starting weights
    keep_checkpoints: int = 3  # the last N epoch checkpoints are kept, and the best
    stages: tuple[Stage, ...] | None = None  # instead of spec.schedule(model, rule) (experiment arms)
    spec_file: Path | None = None  # a user's family file (with training: and schedules:) for --model
    # how the step executes (effnet.execution; None: the device's default)
    precision: str | None = None  # fp32, bf16, fp16
    memory_format: str | None = None  # torch: contiguous, channels_last
    compile: bool | None = None  # torch: torch.compile
    xla: bool | None = None  # tf: jit_compile

    @property
    def execution(self) -> Execution:
        return Execution(
            precision=self.precision,  # type: ignore[arg-type]  # checked by Execution.check
            memory_format=self.memory_format,  # type: ignore[arg-type]
            compile=self.compile,
            xla=self.xla,
        )


def stage_of(stages: tuple[Stage, ...], epoch: int) -> Stage:
    return next(s for s in stages if s.epoch_start <= epoch < s.epoch_end)


def run(cfg: RunConfig) -> dict[str, Any]:
    _check_config(cfg)
    data = scan(cfg.data)
    ms = spec.resolve(cfg.model, num_classes=len(data.classes), file=cfg.spec_file)
    rec = recipe(
        cfg.model,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        lr_per_256=cfg.lr_per_256,
        init=cfg.init,
        file=cfg.spec_file,
    )
    stages = cfg.stages or spec.schedule(cfg.model, cfg.rule, epochs=rec.epochs, file=cfg.spec_file)
    ckpt_root = cfg.out / resume.CHECKPOINTS
    last = resume.start_from(cfg.out, cfg.resume)  # refuses before anything is built or written
    state = _resume_state(cfg, ms, rec, last) if last is not None else None
    engine = create(cfg.backend, ms, rec, cfg.seed, devices=cfg.devices, execution=cfg.execution)
    writer = engine.process[0] == 0  # one process writes metrics, checkpoints and plots
    if writer:
        resume.prepare_out(cfg.out)
        print(f"{cfg.backend}: {engine.execution.describe()}")
    start, history = 0, []
    if last is not None and state is not None:
        resume.load_native(engine, last)
        start, history = state["epoch"] + 1, list(state["history"])
        print(f"resumed from {last} (epoch {state['epoch'] + 1} done)")
        changed = resume.execution_change(state, engine.execution.to_dict())
        if changed and writer:
            print(f"resumed with another execution: {changed} (the saved state is float32 either way)")
    elif cfg.resume:
        print(f"no run in {cfg.out}: starting from scratch")
    if engine.replicas > 1:
        print(f"data parallel: {engine.replicas} replicas in {engine.process[1]} process(es)")
    if data.skipped and writer:
        path, reason = data.skipped[0]
        print(f"skipped {len(data.skipped)} unreadable image(s), e.g. {path}: {reason}")
    undecodable: dict[str, str] = {}
    for epoch in range(start, rec.epochs):
        record = _epoch(cfg, ms, rec, engine, data, stage_of(stages, epoch), epoch, undecodable)
        history.append(record)
        if writer:
            _write_metrics(cfg.out, history)
            _checkpoint(cfg, ms, rec, engine, ckpt_root, epoch, history)
    final = _evaluate(cfg, ms, engine, data, ms.image_size.eval, undecodable)
    summary = {
        "model": ms.name,
        "backend": cfg.backend,
        "epochs": rec.epochs,
        "rule": cfg.rule,
        "final_eval_image_size": ms.image_size.eval,
        "final_val_accuracy": final,
        "chance": 1.0 / len(data.classes),
        "val_images": len(data.val),
        "replicas": engine.replicas,
        "execution": engine.execution.to_dict(),
        "skipped_images": len(data.skipped) + len(undecodable),
        "stages": [s.to_dict() for s in stages],
        "peak_lr": rec.peak_lr,
        "init": rec.init,
        "recipe_cite": rec.cite,
    }
    if writer:
        (cfg.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        plot(history, cfg.out / "progress.png", title=f"{ms.name} on {cfg.backend}, {cfg.rule} schedule")
    return summary


def _per_process_batch(cfg: RunConfig, engine: Engine) -> int:
    count = engine.process[1]
    if cfg.batch_size % engine.replicas:
        raise TrainError(
            f"--batch-size {cfg.batch_size} is the global batch: it must divide evenly over "
            f"{engine.replicas} data-parallel replicas"
        )
    return cfg.batch_size // count


def _check_config(cfg: RunConfig) -> None:
    """The rules ``effnet train``'s argument types enforce, for callers from Python."""
    checks = [
        (cfg.epochs is None or cfg.epochs >= 1, f"epochs must be >= 1, got {cfg.epochs}"),
        (cfg.batch_size >= 1, f"batch_size must be >= 1, got {cfg.batch_size}"),
        (cfg.seed >= 0, f"seed must be >= 0, got {cfg.seed}"),
        (cfg.workers is None or cfg.workers >= 0, f"workers must be >= 0, got {cfg.workers}"),
        (cfg.devices is None or cfg.devices >= 1, f"devices must be >= 1, got {cfg.devices}"),
        (
            cfg.lr_per_256 is None or (math.isfinite(cfg.lr_per_256) and cfg.lr_per_256 > 0),
            f"lr_per_256 must be a finite number > 0, got {cfg.lr_per_256}",
        ),
        (cfg.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {cfg.keep_checkpoints}"),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainError(message)
    cfg.execution.check(cfg.backend)


def _settings(cfg: RunConfig, ms: ModelSpec, rec: Recipe) -> dict[str, Any]:
    """What a checkpoint records of its run, and what a resumed run must match."""
    return {
        "model": ms.name,
        "spec_version": ms.spec_version,
        "spec_hash": ms.spec_hash,
        "backend": cfg.backend,
        "rule": cfg.rule,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "epochs": rec.epochs,
        "lr_per_256": rec.lr_per_256,
        "init": rec.init,
    }


def _resume_state(cfg: RunConfig, ms: ModelSpec, rec: Recipe, last: Path) -> dict[str, Any]:
    state = checkpoint.load_state(last)
    resume.check_compatible(state, _settings(cfg, ms, rec), last)
    return state


def _epoch(
    cfg: RunConfig,
    ms: ModelSpec,
    rec: Recipe,
    engine: Engine,
    data: ImageFolder,
    stage: Stage,
    epoch: int,
    undecodable: dict[str, str],
) -> dict[str, Any]:
    engine.set_dropout(stage.dropout)
    pipe = Pipeline.for_stage(
        data.train,
        stage,
        model=ms,
        recipe=rec,
        num_classes=len(data.classes),
        batch_size=_per_process_batch(cfg, engine),
        seed=cfg.seed,
        epoch=epoch,
        workers=cfg.workers,
        shard=engine.process,
    )
    steps = len(pipe)
    losses, accs, applied = [], [], None
    first_step_s = steady_s = 0.0
    bar = tqdm(
        pipe,
        total=steps,
        desc=f"epoch {epoch + 1}/{rec.epochs} stage {stage.index}",
        unit="step",
        disable=not cfg.progress or engine.process[0] != 0,
        leave=True,
    )
    images, started = 0, time.perf_counter()
    for i, batch in enumerate(bar):
        applied = applied or dict(batch.settings)
        t0 = time.perf_counter()
        loss, acc = engine.train_step(batch.x, batch.y, rec.lr_at(epoch + i / steps))
        dt = time.perf_counter() - t0
        if not math.isfinite(loss):
            bar.close()
            raise TrainError(_diverged(cfg, epoch, i, loss))
        first_step_s, steady_s = (dt, steady_s) if i == 0 else (first_step_s, steady_s + dt)
        losses.append(loss)
        accs.append(acc)
        images += len(batch.x) * engine.process[1]
        bar.set_postfix(
            loss=f"{np.mean(losses):.3f}",
            img_s=f"{images / (time.perf_counter() - started):.1f}",
            size=stage.image_size,
            ra=f"{stage.randaug_magnitude:g}",
            mix=f"{stage.mixup_alpha:g}",
            drop=f"{stage.dropout:g}",
        )
    bar.close()
    _report_undecodable(pipe, undecodable, engine)
    mean_step = steady_s / max(steps - 1, 1)
    val = _evaluate(cfg, ms, engine, data, stage.image_size, undecodable)
    return {
        "epoch": epoch,
        "stage": stage.index,
        "schedule": stage.to_dict(),
        "applied": {**(applied or {}), **engine.observed()},
        "execution": engine.execution.to_dict(),
        "lr_start": rec.lr_at(epoch),
        "lr_end": rec.lr_at(epoch + 1 - 1 / steps),
        "train_loss": float(np.mean(losses)),
        "train_accuracy": float(np.mean(accs)),
        "val_accuracy": val,
        "images_per_s": images / max(time.perf_counter() - started, 1e-9),
        "compile_s": max(first_step_s - mean_step, 0.0),
        "steps": steps,
        "undecodable_images": len(undecodable),
    }


def _diverged(cfg: RunConfig, epoch: int, step: int, loss: float) -> str:
    last = checkpoint.latest(cfg.out / resume.CHECKPOINTS) if cfg.out.is_dir() else None
    kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
    return (
        f"the training loss is {loss} at epoch {epoch + 1}, step {step + 1}: stopped ({kept}); "
        "a smaller --lr-per-256 may help"
    )


def _report_undecodable(pipe: Pipeline, seen: dict[str, str], engine: Engine) -> None:
    new = {p: r for p, r in pipe.undecodable.items() if p not in seen}
    seen.update(new)
    if new and engine.process[0] == 0:
        path, reason = next(iter(new.items()))
        print(f"skipped {len(new)} image(s) that could not be decoded, e.g. {path}: {reason}")


def _evaluate(
    cfg: RunConfig, ms: ModelSpec, engine: Engine, data: ImageFolder, size: int, undecodable: dict[str, str]
) -> float:
    pipe = Pipeline(
        data.val,
        num_classes=len(data.classes),
        image_size=size,
        batch_size=_per_process_batch(cfg, engine),
        preprocessing=ms.preprocessing,
        train=False,
        seed=cfg.seed,
        workers=cfg.workers,
        shard=engine.process,
    )
    correct = total = 0
    for batch in pipe:
        if len(batch.labels):
            correct += int((np.argmax(engine.evaluate(batch.x), axis=1) == batch.labels).sum())
            total += len(batch.labels)
    _report_undecodable(pipe, undecodable, engine)
    correct, total = engine.all_sum(np.array([correct, total], np.int64))
    return int(correct) / max(int(total), 1)


def _write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    tmp = out / ".metrics.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in history))
    os.replace(tmp, out / "metrics.jsonl")


def _checkpoint(
    cfg: RunConfig,
    ms: ModelSpec,
    rec: Recipe,
    engine: Engine,
    root: Path,
    epoch: int,
    history: list[dict[str, Any]],
) -> None:
    def write(directory: Path) -> None:
        engine.save(directory / "native")
        save_canonical(directory / "canonical.safetensors", ms, engine.canonical_weights())

    state = {
        "epoch": epoch,
        **_settings(cfg, ms, rec),
        "execution": engine.execution.to_dict(),  # recorded, not compared (effnet.execution)
        "history": history,
    }
    checkpoint.save(root, epoch, state, write)
    best = checkpoint.best_epoch(history)
    if best is not None and (root / f"epoch-{best:04d}").is_dir():
        checkpoint.point(root, checkpoint.BEST, f"epoch-{best:04d}")
    checkpoint.prune(root, cfg.keep_checkpoints)


def plot(history: list[dict[str, Any]], path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] + 1 for r in history]
    fig, (ax_loss, ax_acc, ax_size) = plt.subplots(1, 3, figsize=(13, 3.8))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-")
    ax_loss.set(title="train loss", xlabel="epoch")
    ax_acc.plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train (mixed labels)")
    ax_acc.plot(epochs, [r["val_accuracy"] for r in history], "s-", label="val (EMA)")
    ax_acc.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
    ax_acc.legend()
    ax_size.step(
        epochs,
        [r["applied"].get("image_size", r["schedule"]["image_size"]) for r in history],
        "o-",
        where="mid",
    )
    ax_size.set(title="image size (blue, px) and dropout (red)", xlabel="epoch", ylabel="px")
    twin = ax_size.twinx()
    dropout = [r["applied"].get("dropout", r["schedule"]["dropout"]) for r in history]
    twin.plot(epochs, dropout, "r--s")
    twin.set(ylabel="dropout", ylim=(0, max(0.5, max(dropout) * 1.2)))
    for ax in (ax_loss, ax_acc, ax_size):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
