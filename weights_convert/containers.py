"""File containers: how a format's flat ``{name: array}`` state is read from and written to disk.
A format names its container; adding a file type means adding a row here (imports stay lazy)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from .errors import WeightsError

State = dict[str, np.ndarray]
# container -> (module, reader function, writer function); modules are imported on use
CONTAINERS: dict[str, tuple[str, str, str]] = {
    "torch": ("effnet.weights_convert.torch_io", "read_state", "write_state"),
    "keras": ("effnet.weights_convert.keras_io", "read_state", "write_state"),
    "flax": ("effnet.weights_convert.flax_io", "read_state", "write_state"),
}
# file suffix -> container to read it with when detecting a format
SUFFIX_CONTAINERS: dict[str, str] = {
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".safetensors": "torch",
    ".h5": "keras",
    ".hdf5": "keras",
}


def _functions(container: str) -> tuple[object, object]:
    if container not in CONTAINERS:
        raise WeightsError(f"unknown file container {container!r}")
    module, reader, writer = CONTAINERS[container]
    mod = importlib.import_module(module)
    return getattr(mod, reader), getattr(mod, writer)


def read(container: str, path: str | os.PathLike[str]) -> State:
    reader, _ = _functions(container)
    return reader(path)  # type: ignore[operator]


def write(container: str, path: str | os.PathLike[str], state: State) -> None:
    _, writer = _functions(container)
    writer(path, state)  # type: ignore[operator]


def read_for_detection(path: Path) -> State:
    """Read an unknown file with the container its suffix suggests."""
    container = SUFFIX_CONTAINERS.get(path.suffix, "torch")
    return read(container, path)
