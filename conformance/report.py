"""``effnet conformance report``: run a fixed, deterministic set of checks for every installed
backend and write ``report.md``, ``report.json`` and ``heatmap.png`` (subjects x comparisons, max
relative error per property). Every check that ran and every check skipped is listed with its reason.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from effnet import spec
from effnet.spec import reference

from . import backends, checks, golden
from .references import REFERENCE_MODELS
from .tolerances import TOLERANCES, tolerance

PROPERTIES = ("eval", "train", "grad", "roundtrip")


@dataclass
class Row:
    subject: str
    comparison: str
    property: str
    max_rel: float | None
    bound: float | None
    passed: bool | None
    message: str


def _subjects() -> list[tuple[str, spec.ModelSpec, dict[str, np.ndarray], np.ndarray, bool]]:
    """(label, spec, weights, input, per-tensor gradient check): the golden cases. A built-in model
    gets dropout and drop-path 0 (train/grad checks need them off) and a batch of 2 at 41 x 33: train-
    mode BN over the 1-image golden batch normalises 2 values per channel in the last stage, which is
    ill-conditioned in any framework."""
    out = []
    for case in golden.load_cases():
        ms, x, label = case.model_spec(), case.input(), case.id
        if "model" in case.source:
            ms = spec.resolve(case.source["model"], dropout=0.0, drop_path={"rate": 0.0})
            x = np.random.default_rng(4).standard_normal((2, 96, 66, 3)).astype(np.float32)
            label = f"{case.source['model']} 2x96x66"
        out.append((label, ms, case.weights(), x, "document" in case.source))
    return out


def _record(rows: list[Row], subject: str, comparison: str, prop: str, result: checks.Result) -> None:
    rows.append(Row(subject, comparison, prop, result.max_rel, result.bound, result.ok, str(result)))


def _skip(rows: list[Row], subject: str, comparison: str, prop: str, reason: str) -> None:
    rows.append(Row(subject, comparison, prop, None, None, None, reason))


def run_checks(progress: bool = True) -> tuple[list[Row], dict[str, Any]]:
    found, missing = backends.available()
    rows: list[Row] = []
    subjects = _subjects()
    pairs = list(combinations(sorted(found), 2))
    total = len(subjects) * (len(found) * 4 + len(pairs) * 3) + len(REFERENCE_MODELS) * max(len(found), 1)
    bar = tqdm(total=total, desc="conformance", unit="check", disable=not progress)
    for label, ms, w, x, per_tensor in subjects:
        labels = np.arange(x.shape[0]) % ms.num_classes
        for name in sorted(missing):
            for prop in PROPERTIES:
                _skip(rows, label, f"{name} vs numpy", prop, missing[name])
        for name, adapter in sorted(found.items()):
            comp = f"{name} vs numpy"
            _record(rows, label, comp, "eval", checks.eval_vs_reference(adapter, ms, w, x))
            _record(rows, label, comp, "train", checks.train_vs_reference(adapter, ms, w, x))
            if checks.trains(adapter):
                grads = checks.grads_vs_reference(adapter, ms, w, x, labels, per_tensor=per_tensor)
                _record(rows, label, comp, "grad", grads)
            else:
                _skip(rows, label, comp, "grad", "inference-only adapter (no train_step)")
            _record(rows, label, comp, "roundtrip", checks.roundtrip(adapter, ms, w))
            bar.update(4)
        for a, b in pairs:
            comp = f"{a} vs {b}"
            _record(rows, label, comp, "eval", checks.eval_pair(found[a], found[b], ms, w, x))
            _record(rows, label, comp, "train", checks.train_pair(found[a], found[b], ms, w, x))
            if checks.trains(found[a]) and checks.trains(found[b]):
                grads = checks.grads_pair(found[a], found[b], ms, w, x, labels)
                _record(rows, label, comp, "grad", grads)
            else:
                _skip(rows, label, comp, "grad", "inference-only adapter (no train_step)")
            bar.update(3)
        if len(found) < 2:
            _skip(
                rows,
                label,
                "backend pairs",
                "eval",
                f"needs two installed backends; installed: {', '.join(found) or 'none'}",
            )
    _reference_libraries(rows, found, bar)
    bar.close()
    meta = {
        "backends": sorted(found),
        "missing_backends": missing,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "tolerances": {f"{d}/{m}": {"max_rel": t.max_rel, "why": t.why} for (d, m), t in TOLERANCES.items()},
    }
    return rows, meta


def _reference_libraries(rows: list[Row], found: dict[str, backends.Adapter], bar: tqdm) -> None:
    x = np.random.default_rng(0).standard_normal((2, 71, 53, 3)).astype(np.float32)
    for ref in REFERENCE_MODELS:
        ms = spec.resolve(ref.model, profile=ref.profile)
        w = reference.random_weights(ms, 0)
        try:
            theirs = ref.run(ms, w, x)
        except ImportError as err:
            for name in found:
                _skip(
                    rows,
                    ref.label,
                    f"{name} vs {ref.library}",
                    "eval",
                    f"{ref.library} not installed ({err})",
                )
            bar.update(max(len(found), 1))
            continue
        for name, adapter in sorted(found.items()):
            model = adapter.build(ms)
            adapter.set_state(model, w)
            ours = adapter.forward(model, x)["logits"]
            diff, rel = checks.rel_error(ours, theirs)
            bound = tolerance("float32", "eval")
            message = (
                f"logits max|Δ|={diff:.2e} rel={rel:.2e} (bound {bound:g}) [{name} vs {ref.library}, 2x71x53]"
            )
            rows.append(Row(ref.label, f"{name} vs {ref.library}", "eval", rel, bound, rel <= bound, message))
            bar.update(1)


def write(out_dir: Path, rows: list[Row], meta: dict[str, Any]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "markdown": out_dir / "report.md",
        "heatmap": out_dir / "heatmap.png",
    }
    ran = [r for r in rows if r.passed is not None]
    payload = {
        "meta": meta,
        "checks": [asdict(r) for r in ran],
        "skipped": [asdict(r) for r in rows if r.passed is None],
    }
    paths["json"].write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    paths["markdown"].write_text(_markdown(rows, meta), encoding="utf-8")
    _heatmap(rows, paths["heatmap"])
    return paths


def _markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    ran = [r for r in rows if r.passed is not None]
    failed = [r for r in ran if not r.passed]
    lines = [
        "# effnet-spec conformance report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')}; backends: {', '.join(meta['backends']) or 'none'}; "
        f"{len(ran)} checks ran, {len(failed)} failed, {len(rows) - len(ran)} skipped.",
        "",
        "Relative error is `max|a - b| / max|b|` over every named tensor (round trips must be bit-exact).",
        "",
        "| subject | comparison | property | max rel error | bound | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in ran:
        verdict = "pass" if r.passed else "FAIL"
        lines.append(
            f"| {r.subject} | {r.comparison} | {r.property} | {r.max_rel:.2e} | {r.bound:g} | {verdict} |"
        )
    if failed:
        lines += ["", "## Failures (first diverging tensor)", ""] + [
            f"- {r.subject}: {r.message}" for r in failed
        ]
    lines += ["", "## Skipped", ""]
    skipped = [r for r in rows if r.passed is None]
    lines += [f"- {r.subject} / {r.comparison} / {r.property}: {r.message}" for r in skipped] or ["- nothing"]
    lines += ["", "## Tolerances", "", "| dtype/mode | max rel | why |", "|---|---|---|"]
    lines += [f"| {k} | {v['max_rel']:g} | {v['why']} |" for k, v in meta["tolerances"].items()]
    return "\n".join(lines) + "\n"


def _heatmap(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    props = [
        p for p in ("eval", "train", "grad") if any(r.property == p and r.passed is not None for r in rows)
    ]
    subjects = list(dict.fromkeys(r.subject for r in rows))
    comparisons = list(dict.fromkeys(r.comparison for r in rows if r.passed is not None))
    # one panel per property, stacked, so the figure stays readable with many comparisons
    fig, axes = plt.subplots(
        len(props),
        1,
        figsize=(5 + 1.0 * len(comparisons), (1.8 + 0.4 * len(subjects)) * len(props)),
        squeeze=False,
    )
    for ax, prop in zip(axes[:, 0], props, strict=True):
        grid = np.full((len(subjects), len(comparisons)), np.nan)
        skipped = {(r.subject, r.comparison) for r in rows if r.property == prop and r.passed is None}
        for r in rows:
            if r.property == prop and r.passed is not None and r.comparison in comparisons:
                grid[subjects.index(r.subject), comparisons.index(r.comparison)] = r.max_rel or 0.0
        image = ax.imshow(
            np.maximum(grid, 1e-12), cmap="viridis", norm=LogNorm(vmin=1e-12, vmax=1e-2), aspect="auto"
        )
        for i, subject in enumerate(subjects):
            for j, comparison in enumerate(comparisons):
                value = grid[i, j]
                if np.isnan(value):
                    text, colour = ("skipped" if (subject, comparison) in skipped else "n/a"), "grey"
                else:
                    text, colour = ("0 (exact)" if value == 0 else f"{value:.0e}"), "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(len(comparisons)), comparisons, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(subjects)), subjects, fontsize=8)
        ax.set_title(f"{prop}: max relative error (bound {tolerance('float32', prop):g})", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
