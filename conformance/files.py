"""Writing the suite's result files: each one complete or not at all (a temporary file beside it,
renamed over it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_json_and_markdown(
    out: Path, stem: str, doc: dict[str, Any], markdown: Callable[[dict[str, Any]], str]
) -> dict[str, Path]:
    """``out/{stem}.json`` and ``out/{stem}.md``; returns both paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md"}
    write_text(paths["json"], json.dumps(doc, indent=2) + "\n")
    write_text(paths["markdown"], markdown(doc))
    return paths
