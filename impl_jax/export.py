"""Deployment files from a built NNX model: serialized StableHLO through ``jax.export`` (a ``.stablehlo``
file that ``jax.export.deserialize`` loads and ``.call`` runs on any JAX platform), fixed height and
width (this backend computes TF SAME pads from static shapes), fixed or symbolic batch.

The file is ``Exported.serialize()``'s bytes followed by a trailer holding the metadata: the JSON
document, its length (8 bytes, little endian) and the magic ``EFFNETM1``. :func:`load_exported` and
:func:`split` separate the two; pass ``split(data)[0]`` to ``jax.export.deserialize`` directly.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import export as jax_export

from effnet.weights_convert import atomic
from effnet.weights_convert.export_meta import ExportError, check_input, dumps, loads, metadata, options

from .model import EfficientNet

MAGIC = b"EFFNETM1"


def split(data: bytes) -> tuple[bytes, str]:
    """(jax.export's serialized bytes, the metadata JSON) of a ``.stablehlo`` file's contents."""
    if len(data) < 16 or data[-8:] != MAGIC:
        return data, ""
    (length,) = struct.unpack("<Q", data[-16:-8])
    if length > len(data) - 16:
        return data, ""
    return data[: -16 - length], data[-16 - length : -16].decode()


def export(
    model: EfficientNet,
    out: str | os.PathLike[str],
    *,
    format: str = "stablehlo",
    image_size: int | tuple[int, int] | None = None,
    dynamic: bool = False,
    batch: int | None = 1,
    dynamic_batch: bool = False,
    include_preprocessing: bool = False,
) -> Path:
    """Write ``model`` (eval mode, its current weights as constants) as serialized StableHLO to
    ``out``. ``image_size``: N or (H, W) (default: the model's eval size); ``dynamic_batch``: a
    symbolic batch. ``include_preprocessing``: the file takes RGB pixels in [0, 255]."""
    opts = options(
        model.spec,
        "jax",
        format,
        image_size=image_size,
        dynamic=dynamic,
        batch=batch,
        dynamic_batch=dynamic_batch,
        include_preprocessing=include_preprocessing,
    )
    if not model.include_top:
        raise ExportError("export writes classifiers: build the model with include_top=True")
    out = atomic.check_target(out)
    pre = model.spec.preprocessing
    scale, offset = np.asarray(pre.scale, np.float32), np.asarray(pre.offset, np.float32)
    model.eval()
    graphdef, state = nnx.split(model)

    def serve(images: jax.Array) -> jax.Array:
        x = images * scale + offset if opts.include_preprocessing else images
        return nnx.merge(graphdef, state)(x)

    height, width = opts.image_size  # type: ignore[misc]  # stablehlo is a fixed-size format
    batch_dim: Any = jax_export.symbolic_shape("b")[0] if opts.dynamic_batch else opts.batch
    shape = jax.ShapeDtypeStruct((batch_dim, height, width, 3), jnp.float32)
    exported = jax_export.export(jax.jit(serve))(shape)
    meta = dumps(metadata(model.spec, format, opts)).encode()
    atomic.write_bytes(out, bytes(exported.serialize()) + meta + struct.pack("<Q", len(meta)) + MAGIC)
    return out


class Exported:
    """A ``.stablehlo`` file deserialized by ``jax.export``: ``exported(x)`` -> logits for an NHWC
    float32 batch (RGB pixels in [0, 255] when the preprocessing is baked in)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        serialized, meta = split(self.path.read_bytes())
        self.metadata = loads(meta, str(self.path))
        self.exported = jax_export.deserialize(bytearray(serialized))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        check_input(self.metadata, x.shape, str(self.path))
        return np.asarray(self.exported.call(jnp.asarray(x, jnp.float32)))


def load_exported(path: str | os.PathLike[str]) -> Exported:
    """Load a ``.stablehlo`` file written by :func:`export`."""
    return Exported(path)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    return loads(split(Path(path).read_bytes())[1], str(path))
