"""argparse ``type=`` validators, the one place command-line values are checked: a bad value is
refused while the arguments are parsed, as one line naming the option
(``effnet: error: argument --epochs: must be an integer >= 1, got '0'``)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED_LIMIT = 2**32  # every backend's generator takes a 32-bit seed


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer ``low <= n <= high`` (``high=None``: no upper bound)."""
    bound = f">= {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}")
        return value

    parse.__name__ = "integer"  # argparse names the type in "invalid <name> value" messages
    return parse


def float_range(low: float, high: float = math.inf, *, low_inclusive: bool = True) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_inclusive=False``); nan and inf
    are refused."""
    above = f"{'>=' if low_inclusive else '>'} {low:g}"
    bound = above if math.isinf(high) else f"{above} and <= {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}") from None
        inside = (value >= low if low_inclusive else value > low) and value <= high
        if not (math.isfinite(value) and inside):
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = int_range(1)
non_negative_int = int_range(0)
seed = int_range(0, SEED_LIMIT - 1)
positive_float = float_range(0.0, low_inclusive=False)


def out_folder(text: str) -> Path:
    """A folder path that is, or can become, a folder: not an existing file, nor below one."""
    path = Path(text)
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "is" if p == path else f"is below {p}, which is"
                raise argparse.ArgumentTypeError(f"{text!r} {what} an existing file, not a folder")
            break
    return path


def comma_list(item: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    """A non-empty comma-separated list, each value checked by ``item`` (e.g. ``int_range(16)``);
    duplicates are refused."""

    def parse(text: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError(f"must be a comma-separated list of values, got {text!r}")
        values = []
        for part in parts:
            try:
                values.append(item(part))
            except argparse.ArgumentTypeError as err:
                raise argparse.ArgumentTypeError(f"{part!r}: {err}") from None
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"lists a value twice: {text!r}")
        return tuple(values)

    parse.__name__ = "list"
    return parse
