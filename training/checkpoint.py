"""Checkpoints: one directory per epoch, written into a temporary directory and renamed into place,
then a ``latest`` pointer replaced atomically; a run killed mid-epoch loses at most that epoch and
never leaves a half-written checkpoint that ``--resume`` would trust."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from effnet.spec import ModelSpec

LATEST = "latest"


def save(root: Path, epoch: int, state: dict[str, Any], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_dir)`` for the payload, add ``state.json``, then publish atomically."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"epoch-{epoch:04d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".epoch-{epoch:04d}.", dir=root))
    try:
        write(tmp)
        (tmp / "state.json").write_text(json.dumps(state, indent=1) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = root / f".{LATEST}.tmp"
    pointer.write_text(final.name + "\n")
    os.replace(pointer, root / LATEST)
    return final


def latest(root: Path) -> Path | None:
    pointer = root / LATEST
    if not pointer.exists():
        return None
    path = root / pointer.read_text().strip()
    return path if (path / "state.json").exists() else None


def load_state(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "state.json").read_text())


class ResumeError(ValueError):
    pass


def check_compatible(state: dict[str, Any], ms: ModelSpec, backend: str) -> None:
    """Refuse to resume a checkpoint of another model, spec version, architecture or backend."""
    problems = []
    for key, ours in (
        ("model", ms.name),
        ("spec_version", ms.spec_version),
        ("spec_hash", ms.spec_hash),
        ("backend", backend),
    ):
        if state.get(key) != ours:
            problems.append(f"{key} {state.get(key)!r} (this run: {ours!r})")
    if problems:
        raise ResumeError("cannot resume: the checkpoint was written for " + ", ".join(problems))
