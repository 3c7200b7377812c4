"""argparse ``type=`` functions: a bad value is refused while the arguments are parsed, as one line
naming the option (``effnet: error: argument --epochs: must be an integer >= 1, got '0'``)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


class OneLineErrors(argparse.ArgumentParser):
    """A parser (and its subcommands' parsers) whose argument errors read as every other error of
    ``effnet``: one line ``effnet: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"effnet: error: {message} (see {self.prog} --help)\n")


SEED_LIMIT = 2**32  # every backend's generator takes a 32-bit seed


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in ``[low, high)`` (``high=None``: no upper bound)."""
    bound = f">= {low}" if high is None else f"in [{low}, {high})"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}")
        return value

    parse.__name__ = "integer"  # argparse names the type in "invalid <name> value" messages
    return parse


positive_int = integer(1)
non_negative_int = integer(0)
seed = integer(0, SEED_LIMIT)


def positive_float(text: str) -> float:
    """A finite number > 0 (``nan``, ``inf``, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


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
