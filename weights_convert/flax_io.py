"""The ``flax`` format's file: safetensors of the NNX state (``nnx.Param`` and ``nnx.BatchStat``),
keyed by the NNX paths joined with dots (``blocks.3.dw.conv.kernel``, ``head.bn.var``), float32,
metadata ``format=flax-nnx``.

Why safetensors and not Orbax: one self-contained file that any framework can read without
executing code, loadable with ``nnx.update(model, ...)`` after unflattening the paths; Orbax writes
a directory tree meant for (async, sharded) training checkpoints, which is what the trainer will use
for resumable runs, not for exchanging weights."""

from __future__ import annotations

import os

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from .atomic import atomic_path
from .errors import WeightsError

FORMAT_TAG = "flax-nnx"
State = dict[str, np.ndarray]


def read_state(path: str | os.PathLike[str]) -> State:
    try:
        with safe_open(str(path), framework="numpy") as f:
            tag = (f.metadata() or {}).get("format")
        state = load_file(str(path))
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err
    if tag not in (FORMAT_TAG, None):
        raise WeightsError(f"{path}: a {tag!r} file, not a flax NNX state")
    return state


def write_state(path: str | os.PathLike[str], state: State) -> None:
    with atomic_path(path) as tmp:
        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()},
            str(tmp),
            metadata={"format": FORMAT_TAG},
        )
