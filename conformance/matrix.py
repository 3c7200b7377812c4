"""The field's conformance matrix: every built-in adapter certified on every model it claims; one row
per (implementation, model, profile), one column per level. ``nox -s certify`` regenerates the
committed ``docs/conformance-matrix.md`` and ``.json`` with this one command.

The run is resumable: each (implementation, model, profile) result is written to its own file under
``parts`` as soon as it is known (an ``effnet.conformance.result/1`` document of one model), and a
later run reuses every part whose spec hash and level still match, so an interrupted matrix (hours
on two cores) continues where it stopped and a new adapter adds only its own rows.

Implementations that share this process run model by model, the cheapest first (PyTorch first: it
must be imported before TensorFlow), so the float64 oracle of a (model, profile) is computed once
for all of them;
keras.applications on JAX runs in a child process (Keras picks its backend once per process), which
writes its own parts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effnet import spec

from . import adapters, certify_report, deviations
from .certify import LEVELS, certify_model, forget_references
from .files import write_json_and_markdown

SCHEMA = "effnet.conformance.matrix/2"
# parts from an older certifier are certified again where the change touched them: 2 reports L3 as
# the worse of the train-mode forward and the running statistics (1 reported the statistics alone);
# 3 runs L3 and L4 on 16 images instead of 2 (certify.BATCH)
CERTIFIER = 3
# A model this large is certified one implementation per child process: in one process beside the
# other frameworks, EfficientNet-L2 (480M parameters, 800 px) went past 24 GiB and was killed; alone,
# torch's row peaks at 16.5 GB. The float64 oracle is then computed once per implementation.
ISOLATED_PARAMS = 300_000_000


@dataclass(frozen=True)
class Implementation:
    label: str  # the matrix's row label
    adapter: str  # what --impl names
    env: dict[str, str] = field(default_factory=dict)  # a process environment it needs

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")

    def runs_here(self) -> bool:
        default = {"KERAS_BACKEND": "tensorflow"}
        return all(os.environ.get(k, default.get(k, "")) == v for k, v in self.env.items())


# the rows of the matrix, in order
IMPLEMENTATIONS: tuple[Implementation, ...] = (
    Implementation("effnet-spec torch", "torch"),
    Implementation("effnet-spec jax", "jax"),
    Implementation("effnet-spec tf", "tf"),
    Implementation("torchvision", "torchvision"),
    Implementation("timm", "timm"),
    Implementation("keras.applications (TensorFlow)", "keras-applications"),
    Implementation("keras.applications (JAX)", "keras-applications", {"KERAS_BACKEND": "jax"}),
    Implementation("transformers", "transformers"),
    Implementation("keras-hub (TensorFlow)", "keras-hub"),
    # exported files (effnet export), loaded back in their own runtimes: L0-L2 (inference only)
    Implementation("effnet-spec torch -> ONNX (onnxruntime)", "torch-onnx"),
    Implementation("effnet-spec torch -> torch.export (.pt2)", "torch-torch-export"),
    Implementation("effnet-spec jax -> StableHLO (jax.export)", "jax-stablehlo"),
    Implementation("effnet-spec jax -> SavedModel (jax2tf)", "jax-saved-model"),
    Implementation("effnet-spec tf -> SavedModel", "tf-saved-model"),
    Implementation("effnet-spec tf -> LiteRT (.tflite)", "tf-litert"),
)


class Parts:
    """One result file per (implementation, model, profile) under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, impl: Implementation, model: str, profile: str) -> Path:
        return self.root / impl.slug / f"{model}@{profile}.json"

    def get(
        self, impl: Implementation, model: str, profile: str, level: str, adapter_version: str | None = None
    ) -> dict[str, Any] | None:
        """The stored part, if it is for today's spec of the model, at least ``level`` and (when given)
        the adapter's current version (a new version may check what the old one could not)."""
        path = self.path(impl, model, profile)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        (m,) = doc["models"]
        current = spec.resolve(model, profile=profile).spec_hash
        if m["spec_hash"] != current or LEVELS.index(doc["requested_level"]) < LEVELS.index(level):
            return None
        if doc.get("certifier", 1) < CERTIFIER and any(
            c["level"] in ("L3", "L4") and c["status"] != "skip" for c in doc.get("checks", [])
        ):
            return None  # its L3/L4 ran on another batch, or reported only the statistics (certifier 1)
        if adapter_version is not None and doc["implementation"]["adapter_version"] != adapter_version:
            return None
        return doc

    def put(self, impl: Implementation, doc: dict[str, Any]) -> None:
        (m,) = doc["models"]
        path = self.path(impl, m["model"], m["profile"])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(path)


def _claims(impl: Implementation, models: list[str] | None) -> list[tuple[str, str]]:
    adapter = adapters.find(impl.adapter)
    return [c for c in adapter.claims() if models is None or c[0] in models]


def _version(impl: Implementation) -> str:
    return str(getattr(adapters.find(impl.adapter), "version", "?"))


def _cost(claim: tuple[str, str]) -> int:
    """A (model, profile)'s multiply-accumulates at its eval size: the matrix runs the cheapest first, so
    a run stopped part way holds every implementation's small models rather than one implementation's
    every model."""
    ms = spec.resolve(claim[0], profile=claim[1])
    return spec.macs(ms, ms.image_size.eval)


def run_here(
    impls: list[Implementation],
    parts: Parts,
    level: str,
    models: list[str] | None,
    progress: Callable[[str], None],
    failures: dict[str, str],
    isolate_large: bool = True,
) -> None:
    """Certify ``impls`` in this process, model by model, writing each part as it is known; a model
    with more than ``ISOLATED_PARAMS`` parameters runs each implementation in a child process unless
    ``isolate_large`` is false (in that child)."""
    claims: list[tuple[Implementation, list[tuple[str, str]]]] = []
    for impl in impls:
        try:
            claims.append((impl, _claims(impl, models)))
        except adapters.AdapterNotFound as err:
            failures[impl.label] = str(err)
    order = sorted(dict.fromkeys(c for _, claimed in claims for c in claimed), key=_cost)
    for model, profile in order:
        for impl, claimed in claims:
            if (model, profile) not in claimed:
                continue
            progress(f"{impl.label}: {model} ({profile})")
            if parts.get(impl, model, profile, level, _version(impl)) is not None:
                continue
            if isolate_large and _isolated(model, profile):
                if (why := _in_child(impl, parts, level, [model])) is not None:
                    failures[impl.label] = why
                continue
            adapter = adapters.find(impl.adapter)
            start = time.perf_counter()
            result = certify_model(adapter, model, profile, level, deviations.declared_by(adapter))
            doc = certify_report.document(adapter, [result], level)
            doc["seconds"] = round(time.perf_counter() - start, 1)
            doc["certifier"] = CERTIFIER
            parts.put(impl, doc)
        forget_references()


def _isolated(model: str, profile: str) -> bool:
    return spec.count(spec.resolve(model, profile=profile)).params > ISOLATED_PARAMS


def _in_child(impl: Implementation, parts: Parts, level: str, models: list[str] | None) -> str | None:
    """Run one implementation in a child process with its environment; None, or why it failed."""
    cmd = [sys.executable, "-m", "effnet", "conformance", "matrix", "--only", impl.label, "--level", level]
    cmd += ["--parts", str(parts.root), "--no-progress"]
    if models:
        cmd += ["--models", ",".join(models)]
    done = subprocess.run(cmd, env={**os.environ, **impl.env}, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"the child process failed ({tail[0]})"
    return None


def count(implementations: tuple[Implementation, ...], models: list[str] | None) -> int:
    """How many (implementation, model) rows a run visits (for a progress bar); child processes'
    implementations are counted by their claims here, where their adapter may not load."""
    total = 0
    for impl in implementations:
        with contextlib.suppress(adapters.AdapterNotFound):
            total += len(_claims(impl, models))
    return total


def run(
    level: str,
    parts: Parts,
    implementations: tuple[Implementation, ...] = IMPLEMENTATIONS,
    models: list[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Certify every implementation (reusing stored parts) and assemble the matrix."""
    start = time.perf_counter()
    failures: dict[str, str] = {}
    run_here([i for i in implementations if i.runs_here()], parts, level, models, progress, failures)
    for impl in implementations:
        if not impl.runs_here():
            progress(f"{impl.label} (child process)")
            if (why := _in_child(impl, parts, level, models)) is not None:
                failures[impl.label] = why
    return assemble(level, parts, implementations, models, failures, time.perf_counter() - start)


def assemble(
    level: str,
    parts: Parts,
    implementations: tuple[Implementation, ...],
    models: list[str] | None,
    failures: dict[str, str],
    wall: float,
) -> dict[str, Any]:
    rows = []
    pending: list[str] = []  # claimed rows with no stored result (an interrupted or partial run)
    compute = 0.0
    for impl in implementations:
        if impl.label in failures:
            continue
        try:
            claimed = _claims(impl, models) if impl.runs_here() else None
        except adapters.AdapterNotFound as err:
            failures[impl.label] = str(err)
            continue
        found = sorted((parts.root / impl.slug).glob("*.json")) if claimed is None else None
        docs = (
            [parts.get(impl, m, p, level, _version(impl)) for m, p in claimed]
            if claimed is not None
            else [json.loads(f.read_text()) for f in found or []]
        )
        for pair, doc in zip(claimed or [None] * len(docs), docs, strict=True):
            if doc is None:
                pending.append(f"{impl.label}: {pair[0]} ({pair[1]})")
                continue
            if claimed is None and models is not None and doc["models"][0]["model"] not in models:
                continue
            compute += doc.get("seconds", 0.0)
            (m,) = doc["models"]
            cells = {lv: _cell([c for c in doc["checks"] if c["level"] == lv]) for lv in _levels(level)}
            rows.append({"implementation": impl.label, **doc["implementation"], **m, "levels": cells})
    return {
        "schema": SCHEMA,
        "level": level,
        "spec_version": spec.SPEC_VERSION,
        "compute_seconds": round(compute, 1),
        "wall_seconds": round(wall, 1),
        "rows": rows,
        "pending": pending,
        "not_run": failures,
    }


def _levels(level: str) -> tuple[str, ...]:
    return LEVELS[: LEVELS.index(level) + 1]


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
    levels = _levels(matrix["level"])
    head = "| implementation | version | model | profile | " + " | ".join(levels) + " |"
    lines = [
        "# EfficientNet conformance matrix",
        "",
        f"Every built-in adapter certified against spec {matrix['spec_version']} on every model it claims "
        f"(`nox -s certify`: {matrix['compute_seconds'] / 3600:.1f} hours of certification on this "
        "machine, summed over the rows). Cells: status and the largest relative error of the level's "
        "checks against the float64 numpy reference (bounds: `conformance/tolerances.py`). "
        "L0 architecture, L1 eval forward at the eval size, L2 odd non-square sizes, L3 train-mode forward "
        "and running statistics, L4 gradients. `skip`: the adapter does not expose what the level needs; "
        "`deviation`: a declared, cited difference (`conformance/deviations.py`).",
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
                    f"{row['implementation']} {row['model']} {lv}: {cell['detail']}"
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
        lines += ["", "Notes:", "", *(f"{i + 1}. {n}" for i, n in enumerate(notes))]
    if matrix.get("pending"):
        lines += ["", f"Pending (claimed, not yet certified: {len(matrix['pending'])} rows):", ""]
        lines += [f"- {row}" for row in matrix["pending"]]
    if matrix["not_run"]:
        lines += ["", "Not run (the whole implementation):", ""]
        lines += [f"- {label}: {why}" for label, why in matrix["not_run"].items()]
    return "\n".join(lines) + "\n"


def write(out: Path, matrix: dict[str, Any]) -> dict[str, Path]:
    return write_json_and_markdown(out, "conformance-matrix", matrix, markdown)
