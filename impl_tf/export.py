"""Deployment files from a built Keras model: a TF SavedModel with a ``serving_default`` signature
(dynamic height and width allowed) and a LiteRT ``.tflite`` flatbuffer (fixed size), both converted by
tensorflow-cpu's own tools (``keras.export.ExportArchive``, ``tf.lite.TFLiteConverter``) and run by
``tf.saved_model.load`` and the LiteRT interpreter (``tf.lite.Interpreter``).

Keras ``padding="same"`` is TF SAME computed by the conv op from the run-time shape, so a SavedModel
with unknown height and width pads correctly at every size. Metadata: ``assets.extra/effnet.json``
in a SavedModel (the folder TF Serving reserves for such files), a flatbuffer metadata entry named
``effnet`` in a ``.tflite`` file. Both are written atomically (a temporary folder or file, renamed).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from effnet.weights_convert import atomic
from effnet.weights_convert.export_meta import (
    METADATA_KEY,
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

INPUT_NAME, OUTPUT_NAME = SAVED_MODEL_INPUT, SAVED_MODEL_OUTPUT
SIGNATURE = SAVED_MODEL_SIGNATURE
METADATA_FILE = Path(SAVED_MODEL_METADATA)


def _serving_fn(model: EfficientNet, opts: ExportOptions) -> tuple[Any, tf.TensorSpec]:
    if not model.include_top:
        raise ExportError("export writes classifiers: build the model with include_top=True")
    pre = model.spec.preprocessing
    scale, offset = tf.constant(pre.scale, tf.float32), tf.constant(pre.offset, tf.float32)
    size = opts.image_size or (None, None)
    spec = tf.TensorSpec((opts.batch, *size, 3), tf.float32, name=INPUT_NAME)

    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        x = images * scale + offset if opts.include_preprocessing else images
        return {OUTPUT_NAME: model(x, training=False)}

    return serve, spec


def _write_saved_model(model: EfficientNet, folder: Path, opts: ExportOptions, meta: str) -> None:
    serve, spec = _serving_fn(model, opts)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=[spec])
    archive.write_out(str(folder), verbose=False)
    (folder / METADATA_FILE).parent.mkdir(exist_ok=True)
    (folder / METADATA_FILE).write_text(meta)


def _with_metadata(flatbuffer: bytes, meta: str) -> bytes:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(meta.encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _tflite_metadata(flatbuffer: bytes) -> str:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == METADATA_KEY:
            return bytes(np.asarray(model.buffers[entry.buffer].data, np.uint8)).decode()
    return ""


def export(
    model: EfficientNet,
    out: str | os.PathLike[str],
    *,
    format: str = "saved-model",
    image_size: int | tuple[int, int] | None = None,
    dynamic: bool = False,
    batch: int | None = 1,
    dynamic_batch: bool = False,
    include_preprocessing: bool = False,
) -> Path:
    """Write ``model`` (inference mode, its current weights) as ``saved-model`` (a folder) or
    ``litert`` (a ``.tflite`` file, fixed size) to ``out``. ``image_size``: N or (H, W), fixed;
    ``dynamic`` (SavedModel only): any height and width; neither: the model's eval size.
    ``include_preprocessing``: the file takes RGB pixels in [0, 255]."""
    if model.include_preprocessing:
        raise ExportError("export the model built without include_preprocessing (pass it to export)")
    opts = options(
        model.spec,
        "tf",
        format,
        image_size=image_size,
        dynamic=dynamic,
        batch=batch,
        dynamic_batch=dynamic_batch,
        include_preprocessing=include_preprocessing,
    )
    out = Path(out)
    meta = dumps(metadata(model.spec, "tf", format, opts))
    if format == "saved-model":
        with atomic.atomic_folder(out) as folder:
            _write_saved_model(model, folder, opts, meta)
        return out
    atomic.check_target(out)
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        _write_saved_model(model, saved, opts, meta)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[SIGNATURE])
        flatbuffer = converter.convert()
    atomic.write_bytes(out, _with_metadata(flatbuffer, meta))
    return out


class Exported:
    """An exported file loaded in its own runtime: ``exported(x)`` -> logits for an NHWC float32 batch
    (RGB pixels in [0, 255] when the preprocessing is baked in); ``metadata`` says what it is."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            meta_file = self.path / METADATA_FILE
            if not meta_file.is_file():
                raise ExportError(f"{self.path}: not an effnet SavedModel (no {METADATA_FILE})")
            self.metadata = loads(meta_file.read_text(), str(self.path))
            loaded = tf.saved_model.load(str(self.path))
            fn = loaded.signatures[SIGNATURE]
            self._keep = loaded
            self._run = lambda x: fn(**{INPUT_NAME: tf.constant(x)})[OUTPUT_NAME].numpy()
        elif self.path.is_file():
            content = self.path.read_bytes()
            self.metadata = loads(_tflite_metadata(content), str(self.path))
            with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated" (TF 2.21 still ships it)
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
                interpreter = tf.lite.Interpreter(model_content=content, num_threads=os.cpu_count())
            runner = interpreter.get_signature_runner(SIGNATURE)
            self._keep = interpreter
            self._run = lambda x: runner(**{INPUT_NAME: x})[OUTPUT_NAME]
        else:
            raise FileNotFoundError(f"{self.path}: no such file or folder")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        check_input(self.metadata, x.shape, str(self.path))
        return np.asarray(self._run(np.ascontiguousarray(x, dtype=np.float32)))


def load_exported(path: str | os.PathLike[str]) -> Exported:
    """Load a SavedModel folder or ``.tflite`` file written by :func:`export`."""
    return Exported(path)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The effnet metadata of an exported file or folder, without loading the graph."""
    path = Path(path)
    if path.is_dir():
        return loads((path / METADATA_FILE).read_text(), str(path))
    return loads(_tflite_metadata(path.read_bytes()), str(path))
