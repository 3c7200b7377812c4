"""Channel and repeat rounding: the only place these rules live (SOURCES §2.1, §2.2).

V1 (TPU-V1 ``round_filters``) applies the "10% rule"; V2 (AUTOML-V2 ``round_filters``) does not.
The two differ only for width 1.2 on base 16 channels (V1-B3 / V2-B3 stage 1: 24 vs 16).
"""

from __future__ import annotations

import math


def round_channels(
    channels: int, width: float, *, divisor: int, min_channels: int, ten_percent_rule: bool
) -> int:
    """Scale ``channels`` by ``width`` and round to a multiple of ``divisor``."""
    scaled = channels * width
    rounded = max(min_channels, int(scaled + divisor / 2) // divisor * divisor)
    if ten_percent_rule and rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """``ceil(depth * repeats)``: identical in every implementation (SOURCES §2.1)."""
    return int(math.ceil(depth * repeats))
