"""``effnet bench pipeline``: the input pipeline alone, stage by stage.

For every stage of the model's progressive-learning schedule (``spec.schedule``), the training
pipeline (:class:`effnet.training.pipeline.Pipeline`) is run at that stage's image size with that
stage's augmentation (RandAugment or AutoAugment at its magnitude, mixup, CutMix) and the recipe's
RandAugment layers and label smoothing, exactly as ``effnet train`` builds it, and nothing consumes
the batches: the figure is how many images per second the pipeline can deliver on this machine's
cores. Compare it with the training step's images/s (``effnet bench train``): a pipeline slower than
the step is the bottleneck of ``effnet train``.

Figures per stage: images/s (median of ``repeats`` passes over ``batches`` batches, each pass a fresh
:class:`Pipeline` as every epoch is, so pool start-up is included), and CPU seconds per image (the
process's CPU time over the pass, all threads): the share of the cores the pipeline takes from a
training step running beside it on a CPU. ``parallelism`` is CPU time / wall time (up to the
number of threads if they really run in parallel).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from effnet import spec
from effnet.spec import ModelSpec, Stage
from effnet.spec.recipe import Recipe, recipe
from effnet.training.dataset import ImageFolder, scan
from effnet.training.pipeline import Pipeline


@dataclass(frozen=True)
class PipelinePlan:
    model: str
    data: str  # "builtin" or an ImageFolder root
    rule: str = "paper"
    workers: int | None = None  # None: os.cpu_count(), as effnet train
    batch_size: int = 32
    batches: int = 10  # batches per pass
    repeats: int = 3  # passes per stage; the median is reported
    seed: int = 0


def pipeline_for(
    data: ImageFolder, ms: ModelSpec, rec: Recipe, stage: Stage, plan: PipelinePlan, epoch: int
) -> Pipeline:
    """The training pipeline of ``stage``, as ``effnet train`` builds it (``Pipeline.for_stage``)."""
    return Pipeline.for_stage(
        data.train,
        stage,
        model=ms,
        recipe=rec,
        num_classes=len(data.classes),
        batch_size=plan.batch_size,
        seed=plan.seed,
        epoch=epoch,
        workers=plan.workers,
    )


def measure_pass(pipe: Pipeline, batches: int, bar: tqdm | None = None) -> tuple[int, float, float]:
    """``(images, wall seconds, CPU seconds)`` for the first ``batches`` batches of ``pipe``."""
    images = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i, batch in enumerate(pipe):
        images += len(batch.x)
        if bar is not None:
            bar.update(1)
        if i + 1 == batches:
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return images, wall, cpu


def run(plan: PipelinePlan, *, progress: bool = True) -> dict[str, Any]:
    from effnet.training.builtin import data_root

    root = data_root(plan.data)
    data = scan(root)
    ms = spec.resolve(plan.model, num_classes=len(data.classes))
    rec = recipe(plan.model, batch_size=plan.batch_size)
    stages = spec.schedule(plan.model, plan.rule, epochs=rec.epochs)
    per_pass = min(plan.batches, len(data.train) // plan.batch_size)
    bar = tqdm(
        total=len(stages) * plan.repeats * per_pass,
        desc="bench pipeline",
        unit="batch",
        disable=not progress,
    )
    rows = []
    for stage in stages:
        passes = []
        for r in range(plan.repeats):
            bar.set_postfix(stage=stage.index, size=stage.image_size, aug=stage.augment)
            pipe = pipeline_for(data, ms, rec, stage, plan, epoch=stage.epoch_start + r)
            passes.append(measure_pass(pipe, per_pass, bar))
        rows.append(_row(stage, passes, pipe.workers))
        bar.set_postfix(stage=stage.index, img_s=f"{rows[-1]['images_per_s']:.0f}")
    bar.close()
    return {
        "plan": asdict(plan),
        "data": {"root": str(root), "train_images": len(data.train), "classes": len(data.classes)},
        "recipe": {"randaug_layers": rec.randaug_layers, "label_smoothing": rec.label_smoothing},
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "rows": rows,
    }


def _row(stage: Stage, passes: list[tuple[int, float, float]], workers: int) -> dict[str, Any]:
    images = passes[0][0]
    wall = statistics.median(p[1] for p in passes)
    cpu = statistics.median(p[2] for p in passes)
    return {
        "stage": stage.index,
        "epochs": [stage.epoch_start, stage.epoch_end],
        "image_size": stage.image_size,
        "augment": stage.augment,
        "randaug_magnitude": stage.randaug_magnitude,
        "mixup_alpha": stage.mixup_alpha,
        "cutmix_alpha": stage.cutmix_alpha,
        "workers": workers,
        "images": images,
        "seconds": wall,
        "images_per_s": images / wall,
        "cpu_ms_per_image": 1000 * cpu / images,
        "parallelism": cpu / wall,
        "repeats_s": [p[1] for p in passes],
    }


def markdown(result: dict[str, Any]) -> str:
    plan = result["plan"]
    rows = result["rows"]
    lines = [
        f"# effnet bench pipeline: {plan['model']}, {plan['rule']} schedule, batch {plan['batch_size']}",
        "",
        f"Measured {result['when']} on {result['machine']['cpu_count']} cores; data {plan['data']} "
        f"({result['data']['train_images']} training images); workers {rows[0]['workers'] if rows else '?'}; "
        f"median of {plan['repeats']} passes of {rows[0]['images'] if rows else '?'} images per stage. "
        "The pipeline alone (nothing consumes the batches): compare with the training step's images/s.",
        "",
        "| stage | size | augment | magnitude | mixup | cutmix | images/s | CPU ms/image | parallelism |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['stage']} | {r['image_size']} | {r['augment']} | {r['randaug_magnitude']:g} | "
            f"{r['mixup_alpha']:g} | {r['cutmix_alpha']:g} | {r['images_per_s']:.0f} | "
            f"{r['cpu_ms_per_image']:.2f} | {r['parallelism']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write(out: Path, result: dict[str, Any]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    plan = result["plan"]
    stem = f"pipeline_{plan['model']}_{plan['rule']}"
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md"}
    paths["json"].write_text(json.dumps(result, indent=1) + "\n")
    paths["markdown"].write_text(markdown(result))
    return paths
