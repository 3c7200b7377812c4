"""``effnet experiment augment-effect``: what each RandAugment op does to the evidence a trained model
uses. The finished run's EMA model classifies the validation images (centre crop at each size) once
clean and once per (op, magnitude) with that op applied, and once with RandAugment itself (the
recipe's number of ops, drawn at random); the accuracy on each augmented copy against the clean
accuracy says how much of the class evidence the op leaves.

Trained without augmentation, the model has learned only the clean evidence, so a drop means the op
hides it (or moves the image off the model's training distribution). This is the measurement behind
the README's account of why RandAugment keeps a 4-epoch run near chance on the builtin data.

``class_parts``: where class names are made of parts joined by ``_`` (the builtin data's
``shape_texture``), the accuracy of each part is reported too: a prediction is right on a part when
the predicted class has the true class's part.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from effnet import spec
from effnet.spec.recipe import recipe

from . import augment, checkpoint, resume
from .dataset import scan
from .engine import create
from .errors import TrainError
from .pipeline import Pipeline

RANDAUGMENT = "RandAugment"  # the row of the op set itself (the recipe's layers, ops drawn at random)
CLEAN = "clean"
BATCH = 50


@dataclass(frozen=True)
class EffectConfig:
    run: Path  # a finished (or interrupted) `effnet train` output folder
    data: Path
    sizes: tuple[int, ...]
    magnitudes: tuple[float, ...]
    ops: tuple[str, ...] = augment.RANDAUG_OPS
    spec_file: Path | None = None
    class_parts: bool = False
    seed: int = 0
    workers: int | None = None
    progress: bool = True


def measure(cfg: EffectConfig) -> dict[str, Any]:
    """Accuracies per size: ``clean`` and ``[op][magnitude]`` (see the module docstring)."""
    unknown = [op for op in cfg.ops if op not in augment.RANDAUG_OPS]
    if unknown:
        raise TrainError(f"unknown op(s) {', '.join(unknown)}; known: {', '.join(augment.RANDAUG_OPS)}")
    last = checkpoint.pointed(cfg.run / resume.CHECKPOINTS) or checkpoint.latest(cfg.run / resume.CHECKPOINTS)
    if last is None:
        raise TrainError(f"{cfg.run}: no checkpoint (expected the output folder of `effnet train`)")
    state = checkpoint.load_state(last)
    data = scan(cfg.data)
    ms = spec.resolve(state["model"], num_classes=len(data.classes), file=cfg.spec_file)
    resume.check_compatible(state, {"model": ms.name, "spec_hash": ms.spec_hash}, last)
    rec = recipe(state["model"], batch_size=BATCH, epochs=1, file=cfg.spec_file)
    engine = create(state["backend"], ms, rec, 0)
    resume.load_native(engine, last)
    labels = np.array([s.label for s in data.val])
    rows = [CLEAN] + [(op, m) for op in (*cfg.ops, RANDAUGMENT) for m in cfg.magnitudes]
    bar = tqdm(total=len(cfg.sizes) * len(rows), desc="augment-effect", disable=not cfg.progress)
    sizes: dict[str, Any] = {}
    for size in cfg.sizes:
        loader = Pipeline(
            data.val, num_classes=len(data.classes), image_size=size, batch_size=BATCH,
            preprocessing=ms.preprocessing, train=False, workers=cfg.workers,
        )  # fmt: skip
        images = [loader.load(i) for i in range(len(data.val))]
        per_size: dict[str, Any] = {}
        for row in rows:
            rng = np.random.default_rng((cfg.seed, size, rows.index(row)))
            shown = (
                images if row == CLEAN else [_augmented(img, row, rec.randaug_layers, rng) for img in images]
            )
            predicted = _predict(engine, shown, ms)
            scores = _scores(predicted, labels, data.classes, cfg.class_parts)
            if row == CLEAN:
                per_size[CLEAN] = scores
            else:
                per_size.setdefault(row[0], {})[f"{row[1]:g}"] = scores
            bar.update()
        sizes[str(size)] = per_size
    bar.close()
    return {
        "run": str(cfg.run),
        "checkpoint": last.name,
        "model": ms.name,
        "backend": state["backend"],
        "val_images": len(labels),
        "classes": list(data.classes),
        "magnitudes": [float(m) for m in cfg.magnitudes],
        "randaug_layers": rec.randaug_layers,
        "sizes": sizes,
    }


def _augmented(
    img: Image.Image, row: tuple[str, float], layers: int, rng: np.random.Generator
) -> Image.Image:
    op, magnitude = row
    if op == RANDAUGMENT:
        return augment.rand_augment(img, layers, magnitude, rng)
    return augment.apply_op(img, op, magnitude, rng)


def _predict(engine: Any, images: Sequence[Image.Image], ms: Any) -> np.ndarray:
    scale = np.asarray(ms.preprocessing.scale, dtype=np.float32)
    offset = np.asarray(ms.preprocessing.offset, dtype=np.float32)
    out = []
    for start in range(0, len(images), BATCH):
        x = np.stack([np.asarray(img, dtype=np.float32) for img in images[start : start + BATCH]])
        out.append(engine.evaluate(x * scale + offset).argmax(axis=1))
    return np.concatenate(out)


def _scores(
    predicted: np.ndarray, labels: np.ndarray, classes: Sequence[str], parts: bool
) -> dict[str, float]:
    scores = {"accuracy": float(np.mean(predicted == labels))}
    if parts:
        split = [c.split("_") for c in classes]
        for k in range(min(len(s) for s in split)):
            scores[f"part{k}"] = float(
                np.mean([split[p][k] == split[t][k] for p, t in zip(predicted, labels, strict=True)])
            )
    return scores


def to_markdown(result: dict[str, Any], command: str) -> str:
    mags = [f"{m:g}" for m in result["magnitudes"]]
    lines = [
        f"# What each RandAugment op leaves of the evidence: {result['model']} ({result['backend']})",
        "",
        f"Run `{result['run']}`, checkpoint `{result['checkpoint']}`; {result['val_images']} validation "
        f"images; RandAugment row: {result['randaug_layers']} ops drawn at random. Command:",
        "",
        f"```\n{command}\n```",
        "",
    ]
    for size, per in result["sizes"].items():
        keys = [k for k in per[CLEAN] if k != "accuracy"]
        head = " | ".join(f"m={m}" for m in mags)
        lines += [
            f"## {size} px: clean accuracy {_cell(per[CLEAN], keys)}",
            "",
            f"| op | {head} |",
            "|---" * (len(mags) + 1) + "|",
        ]
        for op, by_m in per.items():
            if op != CLEAN:
                lines.append(f"| {op} | " + " | ".join(_cell(by_m[m], keys) for m in mags) + " |")
        lines.append("")
    if any(k != "accuracy" for per in result["sizes"].values() for k in per[CLEAN]):
        lines.append("Cells: accuracy (the accuracy of each part of the class name, in order).")
    return "\n".join(lines) + "\n"


def _cell(scores: dict[str, float], parts: Sequence[str]) -> str:
    text = f"{scores['accuracy']:.3f}"
    return text + (" (" + ", ".join(f"{scores[p]:.2f}" for p in parts) + ")" if parts else "")


def plot(result: dict[str, Any], path: Path) -> None:
    """One heatmap per size: accuracy per op (rows) and magnitude (columns) on one colour scale, from
    chance to the best cell or clean accuracy of any size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(result["sizes"])
    mags = [f"{m:g}" for m in result["magnitudes"]]
    chance = 1 / len(result["classes"])
    grids = {}
    for size in sizes:
        per = result["sizes"][size]
        ops = [op for op in per if op != CLEAN]
        grids[size] = (ops, np.array([[per[op][m]["accuracy"] for m in mags] for op in ops]))
    top = max(max(g.max(), result["sizes"][s][CLEAN]["accuracy"]) for s, (_, g) in grids.items())
    fig, axes = plt.subplots(
        1, len(sizes), figsize=(2.2 + 1.6 * len(sizes) * max(len(mags), 2), 6), squeeze=False, sharey=True
    )
    image = None
    for ax, size in zip(axes[0], sizes, strict=True):
        ops, grid = grids[size]
        image = ax.imshow(grid, vmin=chance, vmax=top, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(mags)), mags)
        ax.set_xlabel("magnitude")
        ax.set_yticks(range(len(ops)), ops)
        ax.tick_params(labelleft=ax is axes[0][0])
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < (chance + top) / 2 else "k")
        ax.set_title(f"{size} px: clean {result['sizes'][size][CLEAN]['accuracy']:.2f}")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.7, label=f"validation accuracy (chance {chance:.3f})")
    fig.suptitle(f"{result['model']} ({result['backend']}) on augmented validation images")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write(result: dict[str, Any], out: Path, command: str) -> list[Path]:
    """``out/augment_effect.{json,md,png}``, each written whole (a temporary file, then renamed)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "augment_effect.json", out / "augment_effect.md", out / "augment_effect.png"]
    for path, fill in zip(
        paths,
        (
            lambda p: p.write_text(json.dumps({**result, "command": command}, indent=1) + "\n"),
            lambda p: p.write_text(to_markdown(result, command)),
            lambda p: plot(result, p),
        ),
        strict=True,
    ):
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fill(tmp)
        tmp.replace(path)
    return paths
