"""``effnet bench train|infer``: every implementation and mode at every size, each measured in its
own process (``bench.worker``), side by side in one run. Writes JSON, a Markdown table and a bar chart.

What is timed (``step``): ``bare``, the minimal step of ``bench.steps`` (plain SGD on a synthetic
batch, or one inference batch); ``engine``, the step ``effnet train`` runs (``bench.engine_steps``:
the backend's engine with its optimizer, EMA, regularization and execution) on a synthetic batch;
``end-to-end``, that step fed by the real input pipeline (``--data``). ``--step engine`` measures
bare and engine rows side by side (and end-to-end rows with ``--data``).

Figures: images/s (median of repeats, N steps between two syncs), compile/warm-up seconds, peak
memory (RSS on CPU; peak allocated on a GPU), MFU estimate, ours/reference (our images/s / the
reference's, same backend, each in its best mode), per backend engine/bare and end-to-end/engine,
and the parity figure per size and step: fastest / slowest images/s across our backends in their
best modes (1.0 is perfect parity). A parity figure over fewer of our backends than asked is void.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from effnet import spec

from . import paired
from .device import cpu_peak_flops, gpu_peak_flops
from .steps import IMPLS, environment, reference_torch_label


@dataclass(frozen=True)
class Plan:
    kind: str  # "train" | "infer"
    impls: tuple[str, ...]
    model: str
    sizes: tuple[int, ...]
    batch: int
    precision: str
    device: str
    steps: int
    repeats: int
    modes: tuple[str, ...] | None = None  # restrict to these mode names
    rounds: int = 1  # the whole table measured this many times, interleaved; per row the median
    step: str = "bare"  # "bare" | "engine" (engine rows beside bare ones)
    data: str | None = None  # the dataset of end-to-end rows (engine only): "builtin" or a folder
    num_classes: int | None = None  # classifier width (None: the spec's; the dataset's with --data)
    statistic: str = "median"  # which round a row reports: "median" or "fastest" (see merge_rounds)
    paired: int = 0  # engine only: samples of the in-process paired overhead measurement (bench.paired)

    @property
    def step_kinds(self) -> tuple[str, ...]:
        if self.kind == "infer" or self.step == "bare":
            return ("bare",)
        return ("bare", "engine", *(("end-to-end",) if self.data else ()))


def requests(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for size in plan.sizes:
        for step in plan.step_kinds:
            for impl in plan.impls:
                for mode in IMPLS[impl].modes_for(step):
                    if plan.modes and mode not in plan.modes:
                        continue
                    out.append(_request(plan, impl, mode, size, step))
    return out


def paired_requests(plan: Plan) -> list[dict[str, Any]]:
    """One paired measurement per (our implementation with an engine, engine mode, size)."""
    if not plan.paired or plan.step != "engine":
        return []
    out = []
    for size in plan.sizes:
        for impl in plan.impls:
            if not IMPLS[impl].ours:
                continue
            for mode in IMPLS[impl].modes_for("engine"):
                if plan.modes and mode not in plan.modes:
                    continue
                request = _request(plan, impl, mode, size, "paired")
                out.append({**request, "data": plan.data, "samples": plan.paired})
    return out


def _request(plan: Plan, impl: str, mode: str, size: int, step: str) -> dict[str, Any]:
    return {
        "impl": impl,
        "step": step,
        "mode": mode,
        "model": plan.model,
        "size": size,
        "batch": plan.batch,
        "kind": plan.kind,
        "precision": plan.precision,
        "device": plan.device,
        "steps": plan.steps,
        "repeats": plan.repeats,
        "data": plan.data if step == "end-to-end" else None,
        "num_classes": plan.num_classes,
    }


def run_one(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    impl = IMPLS[request["impl"]]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "effnet.bench.worker", json.dumps(request)],
            capture_output=True,
            text=True,
            env=environment(impl),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**request, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {**request, "error": f"exit {proc.returncode}: {tail[0][:300]}"}
    return json.loads(lines[-1])


STATISTICS = ("median", "fastest")


def merge_rounds(measured: list[dict[str, Any]], statistic: str = "median") -> list[dict[str, Any]]:
    """One row per (impl, mode, size) from its rounds (shared machines drift over minutes, so every
    implementation is measured in each round); an error only when every round failed. Each row is
    one actually measured round: the lower median round, or with ``statistic="fastest"`` the fastest
    round. Interference from other processes only ever slows a step, so on a noisy machine the
    fastest round is the closest to what the code costs (the argument Python's ``timeit``
    documentation makes for the minimum); every round's time stays in ``rounds_step_s``."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for r in measured:
        groups.setdefault((r["impl"], r.get("step", "bare"), r["mode"], r["size"]), []).append(r)
    rows = []
    for runs in groups.values():
        ok = sorted((r for r in runs if "error" not in r), key=lambda r: r["step_s"])
        if not ok:
            rows.append(runs[-1])
            continue
        chosen = ok[0] if statistic == "fastest" else ok[(len(ok) - 1) // 2]
        rows.append({**chosen, "rounds_step_s": [r["step_s"] for r in runs if "error" not in r]})
    return rows


def run(plan: Plan, *, timeout: float = 900, progress: bool = True) -> dict[str, Any]:
    measured = []
    todo = [(k, request) for k in range(plan.rounds) for request in requests(plan)]
    bar = tqdm(todo, desc=f"bench {plan.kind}", unit="run", disable=not progress)
    for k, request in bar:
        where = f"{request['impl']} {request['step']} {request['mode']} {request['size']}px"
        bar.set_postfix_str(f"round {k + 1}/{plan.rounds} {where}")
        measured.append({**run_one(request, timeout), "round": k})
    rows = merge_rounds(measured, plan.statistic)
    pairs = []
    for request in tqdm(paired_requests(plan), desc="bench paired", unit="run", disable=not progress):
        pairs.append(run_one(request, timeout))
    return {
        "plan": plan.__dict__,
        "rows": rows,
        "summary": summarise(plan, rows),
        **({"paired": pairs} if pairs else {}),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _best(
    rows: list[dict[str, Any]], impl: str, size: int, step: str = "bare", modes: set[str] | None = None
) -> dict[str, Any] | None:
    ok = [
        r
        for r in rows
        if r["impl"] == impl
        and r["size"] == size
        and r.get("step", "bare") == step
        and "error" not in r
        and (modes is None or r["mode"] in modes)
    ]
    return max(ok, key=lambda r: r["images_per_s"]) if ok else None


def summarise(plan: Plan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    ms = spec.resolve(plan.model)
    peak, peak_note = (
        cpu_peak_flops()
        if plan.device == "cpu"
        else (gpu_peak_flops(_gpu_name(), plan.precision) or (0.0, "unknown GPU"))
    )
    for r in rows:
        if "error" not in r and peak:
            flops = 2 * spec.macs(ms, r["size"]) * (3 if plan.kind == "train" else 1)
            r["mfu"] = r["images_per_s"] * flops / peak
    per_size = {
        str(size): {
            **{step: _step_cell(plan, rows, size, step) for step in plan.step_kinds},
            "ratios": _ratios(plan, rows, size),
        }
        for size in plan.sizes
    }
    return {
        "per_size": per_size,
        "peak_flops": peak,
        "peak_note": peak_note,
        "torch_reference": reference_torch_label(ms),
    }


def _step_cell(plan: Plan, rows: list[dict[str, Any]], size: int, step: str) -> dict[str, Any]:
    """Best mode per backend, ours over each reference, and parity, for one size and step kind."""
    asked = [i for i in plan.impls if IMPLS[i].ours]
    ours = {i: _best(rows, i, size, step) for i in asked}
    missing = sorted(k for k, v in ours.items() if not v)  # every selected mode failed, or none ran
    found = {k: v for k, v in ours.items() if v}
    vs_reference = {}
    for impl in plan.impls:
        ref = IMPLS[impl]
        if ref.ours or ref.backend not in found:
            continue
        # each side in its best mode among those both run (a compiled step of ours against an eager
        # reference would flatter us); the best of each when they share no mode name
        shared = set(ref.modes_for(step)) & set(IMPLS[ref.backend].modes_for(step))
        theirs = _best(rows, impl, size, step, shared or None)
        mine = _best(rows, ref.backend, size, step, shared or None)
        if theirs and mine:
            vs_reference[f"{ref.backend} vs {impl}"] = mine["images_per_s"] / theirs["images_per_s"]
    speeds = [r["images_per_s"] for r in found.values()]
    return {
        "best": {k: {"mode": v["mode"], "images_per_s": v["images_per_s"]} for k, v in found.items()},
        "ours_over_reference": vs_reference,
        # a figure over fewer of our implementations than asked is void, not a result
        "parity": max(speeds) / min(speeds) if len(speeds) > 1 and not missing else None,
        "parity_void": f"no measurement of {', '.join(missing)}" if missing else None,
    }


def _ratios(plan: Plan, rows: list[dict[str, Any]], size: int) -> dict[str, float]:
    """Per implementation, each in its best mode: engine / bare and end-to-end / engine images/s."""
    out = {}
    for impl in plan.impls:
        bare, engine, e2e = (_best(rows, impl, size, step) for step in ("bare", "engine", "end-to-end"))
        if bare and engine:
            out[f"{impl} engine / bare"] = engine["images_per_s"] / bare["images_per_s"]
        if engine and e2e:
            out[f"{impl} end-to-end / engine"] = e2e["images_per_s"] / engine["images_per_s"]
    return out


def _gpu_name() -> str:
    try:
        return subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return ""


def markdown(result: dict[str, Any]) -> str:
    plan, summary = result["plan"], result["summary"]
    setup = f"{plan['model']}, batch {plan['batch']}, {plan['precision']}, {plan['device']}"
    data = f", end-to-end on {plan['data']} data" if plan.get("data") else ""
    rounds = _rounds_note(plan.get("rounds", 1), plan.get("statistic", "median"))
    lines = [
        f"# effnet bench {plan['kind']}: {setup}{data}",
        "",
        f"Measured {result['when']}; each row its own process; median of {plan['repeats']} repeats of "
        f"{plan['steps']} steps; {rounds}. MFU peak: {summary['peak_note']}. "
        f"Torch reference: {summary['torch_reference']}. Memory: {_memory_note(plan['device'])}.",
        "",
        "| impl | step | mode | size | images/s | ms/step | compile s | peak memory MiB | MFU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        where = f"| {r['impl']} | {r.get('step', 'bare')} | {r['mode']} | {r['size']} |"
        if "error" in r:
            lines.append(f"{where} error: {r['error']} | | | | |")
            continue
        memory = f"{r['peak_memory_bytes'] / 2**20:.0f}" if r.get("peak_memory_bytes") else "n/a"
        lines.append(
            f"{where} {r['images_per_s']:.1f} | {r['step_s'] * 1000:.1f} | {r['compile_s']:.1f} | "
            f"{memory} | {r.get('mfu', 0) * 100:.2f}% |"
        )
    lines += [
        "",
        "| size | step | best mode per backend | ours / reference (images/s) | parity (fastest / slowest) |",
        "|---|---|---|---|---|",
    ]
    for size, cells in summary["per_size"].items():
        for step, s in cells.items():
            if step == "ratios":
                continue
            best = "; ".join(f"{k}: {v['mode']} {v['images_per_s']:.1f}" for k, v in s["best"].items())
            vs = "; ".join(f"{k} {v:.2f}" for k, v in s["ours_over_reference"].items())
            lines.append(f"| {size} | {step} | {best} | {vs} | {_parity_text(s)} |")
    ratios = [(size, k, v) for size, cells in summary["per_size"].items() for k, v in cells["ratios"].items()]
    if ratios:
        lines += ["", "| size | ratio (images/s, best modes) | value |", "|---|---|---|"]
        lines += [f"| {size} | {k} | {v:.2f} |" for size, k, v in ratios]
    if result.get("paired"):
        lines += paired.summary_rows(result["paired"])
    return "\n".join(lines) + "\n"


def _parity_text(cell: dict[str, Any]) -> str:
    if cell["parity"]:
        return f"{cell['parity']:.2f}"
    return f"void ({cell['parity_void']})" if cell["parity_void"] else "n/a"


def _memory_note(device: str) -> str:
    if device == "cpu":
        return "peak resident set size of the measuring process (framework, model, data and step)"
    return "peak device memory allocated by the framework"


def _rounds_note(rounds: int, statistic: str = "median") -> str:
    if rounds == 1:
        return "one round"
    which = "fastest" if statistic == "fastest" else "median"
    return f"the {which} of {rounds} interleaved rounds (every row measured once per round)"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if "error" not in r]
    labels = list(dict.fromkeys(_label(r) for r in rows))
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    pairs = [r for r in result.get("paired", []) if "error" not in r]
    figsize = (max(6, 0.9 * len(labels) * len(sizes)), 8.5 if pairs else 4.5)
    fig, axes = plt.subplots(2 if pairs else 1, 1, figsize=figsize, squeeze=False)
    ax = axes[0][0]
    width = 0.8 / max(len(sizes), 1)
    for i, size in enumerate(sizes):
        values = [
            next(
                (r["images_per_s"] for r in rows if _label(r) == lab and r["size"] == size),
                0,
            )
            for lab in labels
        ]
        ax.bar([j + i * width for j in range(len(labels))], values, width, label=f"{size}px")
    ax.set_xticks([j + width * (len(sizes) - 1) / 2 for j in range(len(labels))], labels, fontsize=7)
    plan = result["plan"]
    ax.set_ylabel("images / s")
    ax.set_title(f"{plan['kind']} {plan['model']} batch {plan['batch']} {plan['precision']} {plan['device']}")
    ax.legend()
    if pairs:
        paired.chart(axes[1][0], pairs)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _label(row: dict[str, Any]) -> str:
    step = row.get("step", "bare")
    return f"{row['impl']}\n{row['mode']}" + ("" if step == "bare" else f"\n{step}")


def write(out: Path, result: dict[str, Any]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    plan = result["plan"]
    stem = f"{plan['kind']}_{plan['model']}_{plan['device']}_{plan['precision']}"
    if plan.get("step", "bare") != "bare":
        stem += f"_{plan['step']}"
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md", "chart": out / f"{stem}.png"}
    paths["json"].write_text(json.dumps(result, indent=1) + "\n")
    paths["markdown"].write_text(markdown(result))
    chart(result, paths["chart"])
    return paths
