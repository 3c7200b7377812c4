"""argparse ``type=`` validators: a bad value is refused while parsing, with the option named
(``effnet: error: argument --image-size: 0 is out of range: must be 1 to 8192``)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An integer ``low <= n <= high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be {low} to {high}")
        return value

    parse.__name__ = "integer"
    return parse


def float_range(low: float, high: float, *, low_inclusive: bool = True) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_inclusive=False``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above = value >= low if low_inclusive else value > low
        if not math.isfinite(value) or not above or value > high:
            bracket = "[" if low_inclusive else "("
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: must be in {bracket}{low:g}, {high:g}]"
            )
        return value

    parse.__name__ = "number"
    return parse
