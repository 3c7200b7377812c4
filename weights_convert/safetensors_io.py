"""Reading and writing safetensors files as numpy, for every format stored in them.

numpy has no bfloat16: a file holding bfloat16 tensors is read through torch when it is installed
(and the tensors become float32, exactly), and refused with that explanation when it is not. Every
tensor read is vetted by ``tensors.check_numbers``. Writes are atomic (``atomic.atomic_path``)."""

from __future__ import annotations

import os

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from .atomic import atomic_path
from .errors import WeightsError
from .tensors import check_numbers

State = dict[str, np.ndarray]


def read(path: str | os.PathLike[str]) -> tuple[State, dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a WeightsError naming it if it is not one."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            names = list(f.keys())
            try:
                state = {name: f.get_tensor(name) for name in names}
            except TypeError:  # a dtype numpy lacks (bfloat16)
                state = _read_with_torch(path)
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err
    return check_numbers(state, path), metadata


def metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """A safetensors file's metadata (the header only); empty for a file that is not one."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return {}


def _read_with_torch(path: str | os.PathLike[str]) -> State:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise WeightsError(
            f"{path}: holds bfloat16 tensors, which numpy cannot represent; install torch to read it"
        ) from None
    from .torch_tensors import to_numpy

    return {name: to_numpy(name, tensor, path) for name, tensor in load_file(str(path)).items()}


def save_file(tensors: State, filename: str, metadata: dict[str, str] | None = None) -> None:
    """``safetensors.numpy.save_file``, but written by Python: a failed write is an OSError with its
    errno (safetensors' own raises a SafetensorError whose text holds it)."""
    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)
    with open(filename, "wb") as f:
        f.write(data)


def write(path: str | os.PathLike[str], state: State, metadata: dict[str, str] | None = None) -> None:
    """Write ``state`` as a safetensors file, atomically."""
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata)
