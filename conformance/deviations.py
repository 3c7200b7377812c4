"""Declared deviations: a per-implementation file (like array-api-tests' xfails file) listing the known,
cited ways an implementation differs from the spec. A check that fails where a declared deviation
applies is reported as ``deviation`` with its citation, never as ``pass``; a divergence nobody
declared is a ``fail``. The file is YAML, a list of entries::

    - models: [efficientnet-b0, efficientnet-b1]   # or "all"
      levels: [L1, L2]                              # the levels it explains
      reason: what differs, in one line
      cite: where it is documented (an issue, a commit, a paper table)

A built-in adapter may ship its own file and name it in an optional ``deviations`` attribute (a path):
``effnet conformance certify`` and the matrix use it unless ``--deviations`` names another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20
LEVEL_NAMES = ("L0", "L1", "L2", "L3", "L4")


class DeviationsError(ValueError):
    """A deviations file that cannot be used (named, with the entry at fault)."""


@dataclass(frozen=True)
class Deviation:
    models: tuple[str, ...] | None  # None: every model
    levels: tuple[str, ...]
    reason: str
    cite: str


def load(path: str | os.PathLike[str]) -> list[Deviation]:
    path = Path(path)
    if not path.is_file():
        raise DeviationsError(f"{path}: no such deviations file")
    if path.stat().st_size > MAX_BYTES:
        raise DeviationsError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise DeviationsError(f"{path}: not a YAML file ({type(err).__name__})") from None
    if not isinstance(data, list):
        raise DeviationsError(f"{path}: expected a list of deviations")
    return [_entry(path, i, item) for i, item in enumerate(data)]


def _entry(path: Path, i: int, item: object) -> Deviation:
    where = f"{path}: entry {i}"
    if not isinstance(item, dict) or set(item) - {"models", "levels", "reason", "cite"}:
        raise DeviationsError(f"{where}: expected keys models, levels, reason, cite")
    for key in ("levels", "reason", "cite"):
        if not item.get(key):
            raise DeviationsError(f"{where}: {key!r} is required (a deviation without a citation is a fail)")
    levels = tuple(item["levels"]) if isinstance(item["levels"], list) else (item["levels"],)
    if unknown := [lv for lv in levels if lv not in LEVEL_NAMES]:
        raise DeviationsError(f"{where}: unknown level(s) {unknown}; levels are {', '.join(LEVEL_NAMES)}")
    models = item.get("models", "all")
    return Deviation(
        None if models == "all" else tuple(models if isinstance(models, list) else [models]),
        levels,
        str(item["reason"]),
        str(item["cite"]),
    )


def declared_by(adapter: Any) -> list[Deviation]:
    """The deviations file an adapter ships (its ``deviations`` attribute), or none."""
    path = getattr(adapter, "deviations", None)
    return load(path) if path else []


def matching(deviations: list[Deviation], model: str, level: str) -> Deviation | None:
    for dev in deviations:
        if level in dev.levels and (dev.models is None or model in dev.models):
            return dev
    return None
