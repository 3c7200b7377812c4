"""Checkpoints: one directory per epoch, written into a hidden temporary directory (``.epoch-NNNN.*``)
and renamed into place, then a ``latest`` pointer replaced atomically; a run killed mid-epoch loses at
most that epoch and never leaves a half-written checkpoint that ``--resume`` would trust. A kill during
the write leaves the hidden directory behind; :func:`remove_partial` deletes such leftovers when the
next run starts.

Retention (:func:`prune`): the last ``keep`` epoch directories, the one ``latest`` names, and the one
the ``best`` pointer names (highest validation accuracy) are kept; older ones are deleted after each
new checkpoint is published.

Pointers (``latest``, ``best``) hold a bare directory name ``epoch-NNNN``; anything else (a path, a
name with ``/`` or ``..``, a directory that is a link out of the checkpoint root) is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ResumeError, one_line

__all__ = ["BEST", "LATEST", "ResumeError", "epoch_dirs", "latest", "load_state", "pointed", "prune", "save"]

LATEST = "latest"
BEST = "best"
PARTIAL_GLOB = ".epoch-*"
_NAME = re.compile(r"epoch-\d{4,}")
_POINTER_BYTES = 256
_STATE_BYTES = 64 << 20  # a state.json holds the run's history: ~1 KB per epoch


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
    point(root, LATEST, final.name)
    return final


def point(root: Path, pointer: str, name: str) -> None:
    """Atomically make ``root/pointer`` name the directory ``name``."""
    tmp = root / f".{pointer}.tmp"
    tmp.write_text(name + "\n")
    os.replace(tmp, root / pointer)


def pointed(root: Path, pointer: str = LATEST) -> Path | None:
    """The directory ``root/pointer`` names (which may not exist), or ``None`` without a pointer.

    Raises :class:`ResumeError` for a pointer that cannot be read or that names anything but a
    directory ``epoch-NNNN`` directly inside ``root``."""
    path = root / pointer
    if not path.exists() and not path.is_symlink():
        return None
    try:
        with open(path, "rb") as fh:
            text = fh.read(_POINTER_BYTES).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ResumeError(f"{path}: cannot read the checkpoint pointer ({one_line(err)})") from None
    target = root / text
    inside = _NAME.fullmatch(text) is not None and (
        not target.exists() or target.resolve().parent == root.resolve()
    )
    if not inside:
        raise ResumeError(f"{path} names {text[:80]!r}, not a checkpoint folder epoch-NNNN inside {root}")
    return target


def latest(root: Path) -> Path | None:
    """The complete checkpoint ``latest`` names, or ``None`` (no pointer, or it names no checkpoint)."""
    target = pointed(root, LATEST)
    return target if target is not None and (target / "state.json").is_file() else None


def epoch_dirs(root: Path) -> list[Path]:
    """The published checkpoint directories under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _NAME.fullmatch(p.name) and p.is_dir())


def best_epoch(history: list[dict[str, Any]]) -> int | None:
    """The epoch of the highest finite validation accuracy (the earliest of equals), if any."""
    scored = [
        (r["val_accuracy"], -r["epoch"]) for r in history if math.isfinite(r.get("val_accuracy", math.nan))
    ]
    return -max(scored)[1] if scored else None


def prune(root: Path, keep: int) -> list[Path]:
    """Delete the checkpoint directories other than the last ``keep``, ``latest``'s and ``best``'s;
    returns the deleted ones."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    every = epoch_dirs(root)
    kept = {p.name for p in every[-keep:]}
    for pointer in (LATEST, BEST):
        target = pointed(root, pointer)
        if target is not None:
            kept.add(target.name)
    removed = [p for p in every if p.name not in kept]
    for p in removed:
        shutil.rmtree(p)
    return removed


def remove_partial(root: Path) -> list[Path]:
    """Delete what a run killed while writing a checkpoint left behind (``.epoch-*`` directories,
    ``.latest.tmp``/``.best.tmp``); returns what was deleted."""
    if not root.is_dir():
        return []
    leftovers = [*root.glob(PARTIAL_GLOB), root / f".{LATEST}.tmp", root / f".{BEST}.tmp"]
    removed = []
    for p in leftovers:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        else:
            continue
        removed.append(p)
    return removed


_HISTORY_NUMBERS = ("train_loss", "train_accuracy", "val_accuracy")


def load_state(directory: Path) -> dict[str, Any]:
    """``directory/state.json``, checked to be what :func:`save` wrote: an object with an integer
    ``epoch`` and a ``history`` of one record per epoch. Raises :class:`ResumeError` naming the file
    and the field at fault."""
    path = directory / "state.json"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_STATE_BYTES + 1)
        if len(raw) > _STATE_BYTES:
            raise ResumeError(f"{path}: larger than {_STATE_BYTES >> 20} MiB, not a checkpoint state")
        state = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except ResumeError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ResumeError(f"{path}: not a readable checkpoint state ({one_line(err)})") from None
    _check_state(path, state)
    return state


def _check_state(path: Path, state: Any) -> None:
    def bad(field: str, why: str) -> ResumeError:
        return ResumeError(f"{path}: {field} {why}")

    if not isinstance(state, dict):
        raise ResumeError(f"{path}: not a checkpoint state (a JSON {type(state).__name__}, not an object)")
    epoch = state.get("epoch")
    if type(epoch) is not int or epoch < 0:
        raise bad("'epoch'", f"must be an integer >= 0, got {_short(epoch)}")
    history = state.get("history")
    if not isinstance(history, list):
        raise bad("'history'", "is missing" if history is None else "must be a list of epoch records")
    if len(history) != epoch + 1:
        raise bad("'history'", f"has {len(history)} record(s) for epoch {epoch} (expected {epoch + 1})")
    for i, record in enumerate(history):
        where = f"'history[{i}]'"
        if not isinstance(record, dict):
            raise bad(where, "must be an object")
        if record.get("epoch") != i or type(record.get("epoch")) is not int:
            raise bad(f"{where}.epoch", f"must be {i}, got {_short(record.get('epoch'))}")
        for key in _HISTORY_NUMBERS:
            value = record.get(key)
            if not _finite(value):
                raise bad(f"{where}.{key}", f"must be a finite number, got {_short(value)}")
        schedule = record.get("schedule")
        if not isinstance(schedule, dict) or not all(
            _finite(schedule.get(k)) for k in ("image_size", "dropout")
        ):
            raise bad(f"{where}.schedule", "must hold the stage's image_size and dropout")
        applied = record.get("applied")
        if not isinstance(applied, dict) or not all(
            _finite(applied[k]) for k in ("image_size", "dropout") if k in applied
        ):
            raise bad(f"{where}.applied", "must be an object (image_size and dropout, if given, numbers)")


def _finite(value: Any) -> bool:
    """A JSON number (not a bool) that is a finite float."""
    try:
        return type(value) in (int, float) and math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        return False


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
