"""Deployment files from a built NNX model: serialized StableHLO through ``jax.export`` (a ``.stablehlo``
file that ``jax.export.deserialize`` loads and ``.call`` runs on any JAX platform) and a TF SavedModel
through ``jax.experimental.jax2tf`` (the same StableHLO module inside an ``XlaCallModule`` op, with a
``serving_default`` signature; ``tf.saved_model.load`` runs it; needs tensorflow). Both have a fixed
height and width (this backend computes TF SAME pads from static shapes: jax2tf refuses a symbolic
height, "padding argument to conv_general_dilated should be ... (low, high) pairs"), fixed or symbolic
batch.

A ``.stablehlo`` file is ``Exported.serialize()``'s bytes followed by a trailer holding the metadata: the JSON
document, its length (8 bytes, little endian) and the magic ``EFFNETM1``. :func:`load_exported` and
:func:`split` separate the two; pass ``split(data)[0]`` to ``jax.export.deserialize`` directly.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import export as jax_export

from effnet.weights_convert import atomic
from effnet.weights_convert.export_meta import (
    SAVED_MODEL_INPUT,
    SAVED_MODEL_METADATA,
    SAVED_MODEL_OUTPUT,
    SAVED_MODEL_SIGNATURE,
    ExportError,
    ExportOptions,
    check_input,
    dumps,
    loads,
    metadata,
    options,
)

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
    """Write ``model`` (eval mode, its current weights as constants) as ``stablehlo`` (serialized
    StableHLO, a file) or ``saved-model`` (a SavedModel folder, through jax2tf) to ``out``.
    ``image_size``: N or (H, W) (default: the model's eval size); ``dynamic_batch``: a symbolic batch.
    ``include_preprocessing``: the file takes RGB pixels in [0, 255]."""
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
    pre = model.spec.preprocessing
    scale, offset = np.asarray(pre.scale, np.float32), np.asarray(pre.offset, np.float32)
    model.eval()
    graphdef, state = nnx.split(model)

    def serve(images: jax.Array) -> jax.Array:
        x = images * scale + offset if opts.include_preprocessing else images
        return nnx.merge(graphdef, state)(x)

    if format == "saved-model":
        _tensorflow()  # missing: one line, before anything is written
        out = Path(out)
        meta = dumps(metadata(model.spec, "jax", format, opts))
        with atomic.atomic_folder(out) as folder:
            _write_saved_model(serve, folder, opts, meta)
        return out
    out = atomic.check_target(out)
    height, width = opts.image_size  # type: ignore[misc]  # a fixed-size format
    batch_dim: Any = jax_export.symbolic_shape("b")[0] if opts.dynamic_batch else opts.batch
    shape = jax.ShapeDtypeStruct((batch_dim, height, width, 3), jnp.float32)
    exported = jax_export.export(jax.jit(serve))(shape)
    meta_bytes = dumps(metadata(model.spec, "jax", format, opts)).encode()
    atomic.write_bytes(
        out, bytes(exported.serialize()) + meta_bytes + struct.pack("<Q", len(meta_bytes)) + MAGIC
    )
    return out


def _tensorflow() -> Any:
    try:
        import tensorflow as tf
    except ImportError:
        raise ExportError(
            "the jax backend writes a SavedModel through jax2tf, which needs tensorflow: "
            "pip install 'effnet-spec[tf]' (or tensorflow-cpu)"
        ) from None
    return tf


def _write_saved_model(
    serve: Callable[[jax.Array], jax.Array], folder: Path, opts: ExportOptions, meta: str
) -> None:
    """``serve`` converted by jax2tf (native serialization: the StableHLO module, weights inside, in an
    ``XlaCallModule`` op) behind a ``serving_default`` signature taking ``images``."""
    tf = _tensorflow()
    from jax.experimental import jax2tf

    height, width = opts.image_size  # type: ignore[misc]  # a fixed-size format
    batch = "b" if opts.dynamic_batch else str(opts.batch)
    shapes = [f"({batch}, {height}, {width}, 3)"]
    converted = jax2tf.convert(serve, polymorphic_shapes=shapes, with_gradient=False)  # inference only
    spec = tf.TensorSpec((opts.batch, height, width, 3), tf.float32, name=SAVED_MODEL_INPUT)

    module = tf.Module()
    module.serve = tf.function(
        lambda images: {SAVED_MODEL_OUTPUT: converted(images)}, autograph=False, input_signature=[spec]
    )
    tf.saved_model.save(module, str(folder), signatures={SAVED_MODEL_SIGNATURE: module.serve})
    (folder / SAVED_MODEL_METADATA).parent.mkdir(exist_ok=True)
    (folder / SAVED_MODEL_METADATA).write_text(meta)


class Exported:
    """A ``.stablehlo`` file deserialized by ``jax.export`` or a SavedModel folder loaded by
    ``tf.saved_model.load``: ``exported(x)`` -> logits for an NHWC float32 batch (RGB pixels in
    [0, 255] when the preprocessing is baked in)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._run: Callable[[np.ndarray], Any]
        if self.path.is_dir():
            meta_file = self.path / SAVED_MODEL_METADATA
            if not meta_file.is_file():
                raise ExportError(f"{self.path}: not an effnet SavedModel (no {SAVED_MODEL_METADATA})")
            self.metadata = loads(meta_file.read_text(), str(self.path))
            tf = _tensorflow()
            loaded = tf.saved_model.load(str(self.path))
            fn = loaded.signatures[SAVED_MODEL_SIGNATURE]
            self._keep = loaded
            self._run = lambda x: fn(**{SAVED_MODEL_INPUT: tf.constant(x)})[SAVED_MODEL_OUTPUT].numpy()
        elif self.path.is_file():
            serialized, meta = split(self.path.read_bytes())
            self.metadata = loads(meta, str(self.path))
            self.exported = jax_export.deserialize(bytearray(serialized))
            self._run = lambda x: self.exported.call(jnp.asarray(x, jnp.float32))
        else:
            raise FileNotFoundError(f"{self.path}: no such file or folder")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        check_input(self.metadata, x.shape, str(self.path))
        return np.asarray(self._run(np.ascontiguousarray(x, dtype=np.float32)))


def load_exported(path: str | os.PathLike[str]) -> Exported:
    """Load a ``.stablehlo`` file or SavedModel folder written by :func:`export`."""
    return Exported(path)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The effnet metadata of an exported file or folder, without loading the graph."""
    path = Path(path)
    if path.is_dir():
        return loads((path / SAVED_MODEL_METADATA).read_text(), str(path))
    return loads(split(path.read_bytes())[1], str(path))
