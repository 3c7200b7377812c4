"""Tensor layout transforms between the canonical format (channels-last, HWIO) and each framework.
Pure numpy; the only place layout knowledge lives (SOURCES §6.1).

| transform  | foreign layout                       | canonical layout     |
|------------|--------------------------------------|----------------------|
| ``oihw``   | torch conv (O, I, kh, kw); depthwise (C, 1, kh, kw) | (kh, kw, I, O); (kh, kw, 1, C) |
| ``khwc1``  | Keras/TF depthwise (kh, kw, C, 1)    | (kh, kw, 1, C)       |
| ``dense_t``| torch Linear (out, in)               | (in, out)            |
| ``none``   | same as canonical (Keras/Flax convs, dense, vectors) | |
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]


def _t(axes: tuple[int, ...]) -> Transform:
    return lambda a: np.ascontiguousarray(np.transpose(a, axes))


TO_CANONICAL: dict[str, Transform] = {
    "oihw": _t((2, 3, 1, 0)),  # (O, I, kh, kw) -> (kh, kw, I, O)
    "khwc1": _t((0, 1, 3, 2)),  # (kh, kw, C, 1) -> (kh, kw, 1, C)
    "dense_t": _t((1, 0)),
    "none": lambda a: a,
}
TO_FOREIGN: dict[str, Transform] = {
    "oihw": _t((3, 2, 0, 1)),  # (kh, kw, I, O) -> (O, I, kh, kw)
    "khwc1": _t((0, 1, 3, 2)),
    "dense_t": _t((1, 0)),
    "none": lambda a: a,
}


def foreign_shape(transform: str, canonical_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a tensor has in the foreign layout."""
    return tuple(TO_FOREIGN[transform](np.empty(canonical_shape, dtype=np.uint8)).shape)
