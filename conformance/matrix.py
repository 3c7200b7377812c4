"""The field's conformance matrix: every built-in adapter certified on every model it claims; one row
per (implementation, model, profile), one column per level. ``nox -s certify`` regenerates the
committed ``docs/conformance-matrix.md`` and ``.json`` with this one command.

Implementations run in this process, one after another (PyTorch first: it must be imported before
TensorFlow), so the float64 oracle of a (model, profile) is computed once for every implementation
of it; keras.applications on JAX runs in a child process (Keras picks its backend once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import adapters, certify_report
from .certify import LEVELS, certify_model
from .files import write_json_and_markdown

# the rows of the matrix, in order: (implementation label, adapter name, process environment)
IMPLEMENTATIONS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("effnet-spec torch", "torch", {}),
    ("effnet-spec jax", "jax", {}),
    ("effnet-spec tf", "tf", {}),
    ("torchvision", "torchvision", {}),
    ("timm", "timm", {}),
    ("keras.applications (TensorFlow)", "keras-applications", {}),
    ("keras.applications (JAX)", "keras-applications", {"KERAS_BACKEND": "jax"}),
    # exported files (effnet export), loaded back in their own runtimes: L0-L2 (inference only)
    ("effnet-spec torch -> ONNX (onnxruntime)", "torch-onnx", {}),
    ("effnet-spec torch -> torch.export (.pt2)", "torch-torch-export", {}),
    ("effnet-spec jax -> StableHLO (jax.export)", "jax-stablehlo", {}),
    ("effnet-spec tf -> SavedModel", "tf-saved-model", {}),
    ("effnet-spec tf -> LiteRT (.tflite)", "tf-litert", {}),
)


def _here(env: dict[str, str]) -> bool:
    return all(os.environ.get(k, "tensorflow" if k == "KERAS_BACKEND" else "") == v for k, v in env.items())


def certify_implementation(
    name: str, level: str, models: list[str] | None, progress: Callable[[str], None]
) -> dict[str, Any]:
    """One implementation's result document (``certify_report.document``)."""
    adapter = adapters.find(name)
    claims = [c for c in adapter.claims() if models is None or c[0] in models]
    results = []
    for model, profile in claims:
        progress(f"{adapter.name} {model} ({profile})")
        results.append(certify_model(adapter, model, profile, level))
    return certify_report.document(adapter, results, level)


def _in_child(name: str, env: dict[str, str], level: str, models: list[str] | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "effnet", "conformance", "certify", "--impl", name, "--level", level]
        cmd += ["--models", ",".join(models) if models else "claimed", "--out", tmp, "--no-progress"]
        done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
        result = Path(tmp) / "result.json"
        if not result.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"{name} {env}: certify wrote no result ({tail[0]})")
        return json.loads(result.read_text())


def run(
    level: str = "L4",
    implementations: tuple[tuple[str, str, dict[str, str]], ...] = IMPLEMENTATIONS,
    models: list[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    start = time.perf_counter()
    rows, failures = [], {}
    for label, name, env in implementations:
        try:
            if _here(env):
                doc = certify_implementation(name, level, models, progress)
            else:
                progress(f"{label} (child process)")
                doc = _in_child(name, env, level, models)
        except (adapters.AdapterNotFound, RuntimeError) as err:
            failures[label] = str(err)
            continue
        for m in doc["models"]:
            cells = {}
            for lv in LEVELS[: LEVELS.index(level) + 1]:
                here = [
                    c
                    for c in doc["checks"]
                    if c["model"] == m["model"] and c["profile"] == m["profile"] and c["level"] == lv
                ]
                cells[lv] = _cell(here)
            rows.append({"implementation": label, **doc["implementation"], **m, "levels": cells})
    return {
        "schema": "effnet.conformance.matrix/1",
        "level": level,
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
        "not_run": failures,
    }


def _cell(checks: list[dict[str, Any]]) -> dict[str, Any]:
    if not checks:
        return {"status": "not run"}
    order = ("error", "fail", "skip", "deviation", "pass")
    status = min((c["status"] for c in checks), key=order.index)
    rels = [c["max_rel"] for c in checks if isinstance(c["max_rel"], float)]
    cell: dict[str, Any] = {"status": status, "max_rel": max(rels) if rels else None}
    first = next((c for c in checks if c["status"] == status and status != "pass"), None)
    if first is not None:
        cell["detail"] = first["first_divergence"] or first["message"]
        if first["citation"]:
            cell["citation"] = first["citation"]
    return cell


def markdown(matrix: dict[str, Any]) -> str:
    levels = LEVELS[: LEVELS.index(matrix["level"]) + 1]
    head = "| implementation | version | model | profile | " + " | ".join(levels) + " |"
    lines = [
        "# EfficientNet conformance matrix",
        "",
        "Every built-in adapter certified against the spec on every model it claims "
        f"(`nox -s certify`, {matrix['seconds'] / 60:.0f} minutes). Cells: status and the largest relative "
        "error of the level's checks against the float64 numpy reference (bounds: "
        "`conformance/tolerances.py`). "
        "L0 architecture, L1 eval forward at the eval size, L2 odd non-square sizes, L3 train-mode forward "
        "and running statistics, L4 gradients. `skip`: the adapter does not expose what the level needs.",
        "",
        head,
        "|" + "---|" * (4 + len(levels)),
    ]
    notes = []
    for row in matrix["rows"]:
        cells = []
        for lv in levels:
            cell = row["levels"][lv]
            text = cell["status"]
            if cell.get("max_rel") is not None and cell["status"] in ("pass", "fail", "deviation"):
                text += f" {cell['max_rel']:.1e}"
            if cell.get("detail") and cell["status"] in ("fail", "error", "deviation"):
                notes.append(
                    f"- {row['implementation']} {row['model']} {lv}: {cell['detail']}"
                    + (f" ({cell['citation']})" if cell.get("citation") else "")
                )
                text += f" [{len(notes)}]"
            cells.append(text)
        lines.append(
            f"| {row['implementation']} | {row['library_version']} | {row['model']} | {row['profile']} | "
            + " | ".join(cells)
            + " |"
        )
    if notes:
        lines += ["", "Notes:", "", *(f"{i + 1}. {n[2:]}" for i, n in enumerate(notes))]
    if matrix["not_run"]:
        lines += ["", "Not run (the whole implementation):", ""]
        lines += [f"- {label}: {why}" for label, why in matrix["not_run"].items()]
    return "\n".join(lines) + "\n"


def write(out: Path, matrix: dict[str, Any]) -> dict[str, Path]:
    return write_json_and_markdown(out, "conformance-matrix", matrix, markdown)
