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

from . import safetensors_io
from .errors import WeightsError

FORMAT_TAG = "flax-nnx"
State = dict[str, np.ndarray]


def read_state(path: str | os.PathLike[str]) -> State:
    state, metadata = safetensors_io.read(path)
    tag = metadata.get("format")
    if tag not in (FORMAT_TAG, None):
        raise WeightsError(f"{path}: a {tag!r} file, not a flax NNX state")
    return state


def write_state(path: str | os.PathLike[str], state: State) -> None:
    safetensors_io.write(
        path, {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}, {"format": FORMAT_TAG}
    )
