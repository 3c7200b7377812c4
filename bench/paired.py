"""Engine overheads measured in pairs (``effnet bench train --step engine --paired N``).

The table's rows are measured one after another, each in its own process, seconds to minutes apart;
on a shared machine the same row can run 2x slower from one round to the next, which swamps a 10%
ratio such as engine / bare. Here one process per (backend, mode, size) builds the bare step, the
engine step and (with ``--data``) the end-to-end step, and times them in turn, ``steps`` steps each,
``N`` times, rotating which goes first. Each sample's ratios compare steps measured seconds apart,
under the same conditions; the median over samples is the figure, the smallest and largest its spread.

Ratios are of images/s, as in the summary: ``engine / bare = t_bare / t_engine``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .timing import Step

# (ratio name, numerator kind, denominator kind), in images/s
RATIOS = (("engine / bare", "engine", "bare"), ("end-to-end / engine", "end-to-end", "engine"))


def measure(steps: dict[str, Step], *, steps_per_sample: int, samples: int) -> dict[str, list[float]]:
    """Seconds per step of each kind in each sample; every kind compiled and warmed up first."""
    for step in steps.values():
        for _ in range(2):
            step.sync(step.run())
    kinds = list(steps)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(samples):
        shift = i % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            start = time.perf_counter()
            out = None
            for _ in range(steps_per_sample):
                out = steps[kind].run()
            steps[kind].sync(out)
            times[kind].append((time.perf_counter() - start) / steps_per_sample)
    return times


def ratios(times: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per ratio: the median over samples, its min and max, and every sample's value."""
    out = {}
    for name, faster, slower in RATIOS:
        if faster in times and slower in times:
            values = [t_slow / t_fast for t_fast, t_slow in zip(times[faster], times[slower], strict=True)]
            out[name] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "samples": values,
            }
    return out


def summary_rows(paired: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: one row per measured (size, backend, mode)."""
    lines = [
        "",
        "Engine overheads measured in pairs (one process per row; bare, engine and end-to-end steps "
        "timed in turn, the ratio per sample; median [min, max] over samples):",
        "",
        "| size | impl | mode | bare img/s | engine img/s | end-to-end img/s | engine / bare "
        "| end-to-end / engine | samples |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in paired:
        if "error" in r:
            lines.append(f"| {r['size']} | {r['impl']} | {r['mode']} | failed: {r['error']} | | | | | |")
            continue
        speed = {k: r["batch"] / statistics.median(v) for k, v in r["times_s"].items()}

        def cell(kind: str, speed: dict[str, float] = speed) -> str:
            return f"{speed[kind]:.1f}" if kind in speed else ""

        def ratio(name: str, r: dict[str, Any] = r) -> str:
            v = r["ratios"].get(name)
            return f"**{v['median']:.2f}** [{v['min']:.2f}, {v['max']:.2f}]" if v else ""

        samples = len(r["times_s"]["bare"])
        lines.append(
            f"| {r['size']} | {r['impl']} | {r['mode']} | {cell('bare')} | {cell('engine')} | "
            f"{cell('end-to-end')} | {ratio('engine / bare')} | {ratio('end-to-end / engine')} | {samples} |"
        )
    return lines


def chart(ax: Any, paired: list[dict[str, Any]], goal: float = 0.9) -> None:
    """Each ratio's median as a bar, its [min, max] over samples as an error bar, the goal as a line."""
    labels = [f"{r['impl']} {r['size']}px" for r in paired]
    names = [name for name, _, _ in RATIOS if any(name in r["ratios"] for r in paired)]
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        got = [r["ratios"].get(name) for r in paired]
        medians = [v["median"] if v else 0.0 for v in got]
        low = [v["median"] - v["min"] if v else 0.0 for v in got]
        high = [v["max"] - v["median"] if v else 0.0 for v in got]
        xs = [j + i * width for j in range(len(labels))]
        ax.bar(xs, medians, width, yerr=[low, high], capsize=3, label=name)
    ax.axhline(goal, color="black", linestyle="--", linewidth=1, label=f"goal {goal:g}")
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(labels))], labels, fontsize=8)
    ax.set_ylabel("ratio of images / s")
    ax.set_title("measured in pairs: median over samples, [min, max] as error bars")
    ax.legend(fontsize=8)
