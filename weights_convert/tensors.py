"""What every tensor read from a checkpoint must be: real numbers, and finite where they are floats.

Refused, naming the file and the tensor: NaN or infinite values (a diverged or corrupted run),
complex numbers (converting would drop the imaginary part), non-numeric dtypes, and integer or bool
arrays of more than one value (no supported format stores weights as integers; the only integers they
hold are counters such as torch's ``num_batches_tracked``, shaped ``()`` or ``(1,)``). Half-precision floats
(float16, bfloat16) are read as float32, which holds every one of their values exactly.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import WeightsError

State = dict[str, np.ndarray]
HALF_PRECISION = ("float16", "bfloat16")


def check_numbers(state: State, where: str | os.PathLike[str]) -> State:
    """Return ``state`` (half precision widened to float32) if every tensor is a real number array as
    described above, else raise."""
    for name, value in state.items():
        array = np.asarray(value)
        if array.dtype.name in HALF_PRECISION:  # ml_dtypes' bfloat16 (registered by JAX) is kind "V"
            array = state[name] = array.astype(np.float32)
        kind = array.dtype.kind
        if kind == "f":
            finite = np.isfinite(array)
            if not finite.all():
                bad = int(array.size - np.count_nonzero(finite))
                what = "NaN" if np.isnan(array).any() else "infinite"
                raise WeightsError(
                    f"{where}: tensor {name!r} holds {bad} of {array.size} values that are not finite "
                    f"({what}); refusing a broken checkpoint"
                )
        elif kind == "c":
            raise WeightsError(
                f"{where}: tensor {name!r} is complex ({array.dtype}); weights are real numbers"
            )
        elif kind in "biu":
            if array.size > 1:
                raise WeightsError(
                    f"{where}: tensor {name!r} holds {array.dtype} integers {array.shape}; "
                    "weights must be floating point"
                )
        else:
            raise WeightsError(f"{where}: tensor {name!r} has dtype {array.dtype}, which is not a number")
    return state
