"""``result.json`` and ``result.md`` of one certification run.

``result.json`` (schema ``effnet.conformance.result/1``)::

    schema, created (UTC, ISO 8601), spec_version,
    implementation: {adapter, adapter_version, adapter_api, library, library_version},
    machine: {python, platform, processor, cpus},
    requested_level, passed (every model reached the requested level),
    models: [{model, profile, spec_hash, reached, passed}],
    checks: [{model, profile, level, check, status, max_rel, tolerance, first_divergence, seconds,
              citation, message}]

``status`` is ``pass``, ``fail`` (with the first diverging tensor), ``deviation`` (a declared one,
with its citation), ``skip`` (the adapter lacks what the check needs; the level is then not reached)
or ``error`` (the adapter raised; its message).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from effnet.spec import SPEC_VERSION

from .certify import LEVELS, ModelResult
from .files import write_json_and_markdown

SCHEMA = "effnet.conformance.result/1"


def _finite(value: float | None) -> float | str | None:
    return value if value is None or math.isfinite(value) else str(value)


def document(adapter: Any, results: list[ModelResult], level: str) -> dict[str, Any]:
    models = [
        {
            "model": r.model,
            "profile": r.profile,
            "spec_hash": r.spec_hash,
            "reached": r.reached(),
            "passed": r.reached() is not None and LEVELS.index(r.reached()) >= LEVELS.index(level),
        }
        for r in results
    ]
    checks = []
    for r in results:
        for c in r.checks:
            row = dataclasses.asdict(c)
            row["max_rel"], row["tolerance"] = _finite(c.max_rel), _finite(c.tolerance)
            row["seconds"] = round(c.seconds, 3)
            checks.append(row)
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec_version": SPEC_VERSION,
        "implementation": {
            "adapter": adapter.name,
            "adapter_version": str(getattr(adapter, "version", "?")),
            "adapter_api": getattr(adapter, "adapter_api", None),
            "library": getattr(adapter, "library", "?"),
            "library_version": str(getattr(adapter, "library_version", "?")),
        },
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "requested_level": level,
        "passed": bool(models) and all(m["passed"] for m in models),
        "models": models,
        "checks": checks,
    }


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(doc: dict[str, Any]) -> str:
    impl = doc["implementation"]
    lines = [
        f"# Conformance: {impl['adapter']} ({impl['library']} {impl['library_version']})",
        "",
        f"Spec {doc['spec_version']}, requested level {doc['requested_level']}, "
        f"{'PASSED' if doc['passed'] else 'NOT PASSED'}; {doc['created']}, {doc['machine']['platform']}.",
        "",
        "| model | profile | spec hash | reached |",
        "|---|---|---|---|",
        *(
            f"| {m['model']} | {m['profile']} | `{m['spec_hash']}` | {m['reached'] or '-'} |"
            for m in doc["models"]
        ),
        "",
        "| model | level | check | status | max rel | bound | s | first divergence / note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in doc["checks"]:
        rel = f"{c['max_rel']:.2e}" if isinstance(c["max_rel"], float) else (c["max_rel"] or "")
        bound = (
            ""
            if c["tolerance"] is None
            else f"{c['tolerance']:g}"
            if isinstance(c["tolerance"], float)
            else c["tolerance"]
        )
        note = c["first_divergence"] or ""
        if c["citation"]:
            note = f"{note} -- declared: {c['message']} ({c['citation']})"
        elif c["message"]:
            note = f"{note} {c['message']}".strip()
        note = note.replace("|", "\\|")
        lines.append(_row(c["model"], c["level"], c["check"], c["status"], rel, bound, c["seconds"], note))
    return "\n".join(lines) + "\n"


def write(out: Path, doc: dict[str, Any]) -> dict[str, Path]:
    return write_json_and_markdown(out, "result", doc, markdown)
