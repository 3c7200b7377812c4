"""Deployment artifacts, framework-free: which backend writes which format, the options an export
takes and how they are validated, and the metadata every artifact carries so a file says what it is.
The backends' ``export`` modules (``impl_torch.export``, ``impl_tf.export``, ``impl_jax.export``)
write and load the files; this module is what they, the ``effnet export`` command and the
certification adapter (``conformance.adapters.exported``) share.

Inputs: an artifact takes float32 images in its backend's layout (``NCHW`` for torch, ``NHWC`` for
tf and jax), either network inputs (preprocessed as ``spec.preprocessing`` says) or, with
``include_preprocessing``, RGB pixels in [0, 255] that the graph scales itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import effnet
from effnet.spec import ModelSpec

METADATA_KEY = "effnet"  # the one JSON document every artifact holds (see ``metadata``)
METADATA_SCHEMA = "effnet.export/1"


class ExportError(ValueError):
    """An export that cannot be made as asked (a format the backend does not write, a dynamic size
    for a fixed-size format, an artifact that does not match its input, ...): one line for the user."""


@dataclass(frozen=True)
class ExportFormat:
    name: str
    backend: str
    suffix: str  # "" for a folder
    dynamic_size: bool  # the file can accept any height and width (given --dynamic)
    layout: str  # the artifact's input layout
    runtime: str  # what loads and runs it
    description: str

    @property
    def folder(self) -> bool:
        return not self.suffix


FORMATS: dict[tuple[str, str], ExportFormat] = {
    (f.backend, f.name): f
    for f in (
        ExportFormat("onnx", "torch", ".onnx", True, "NCHW", "onnxruntime", "ONNX (torch.onnx, dynamo)"),
        ExportFormat("torch-export", "torch", ".pt2", True, "NCHW", "torch.export.load", "torch.export"),
        ExportFormat(
            "saved-model", "tf", "", True, "NHWC", "tf.saved_model.load", "TF SavedModel (serving_default)"
        ),
        ExportFormat("litert", "tf", ".tflite", False, "NHWC", "LiteRT interpreter", "LiteRT (TFLite)"),
        ExportFormat(
            "stablehlo",
            "jax",
            ".stablehlo",
            False,
            "NHWC",
            "jax.export.deserialize",
            "StableHLO (jax.export)",
        ),
        ExportFormat(
            "saved-model",
            "jax",
            "",
            False,
            "NHWC",
            "tf.saved_model.load",
            "TF SavedModel through jax2tf (serving_default; needs tensorflow)",
        ),
    )
}
FORMAT_NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for _, name in FORMATS))

# a SavedModel's layout, whichever backend writes it (``impl_tf.export``, ``impl_jax.export``)
SAVED_MODEL_SIGNATURE, SAVED_MODEL_INPUT, SAVED_MODEL_OUTPUT = "serving_default", "images", "logits"
SAVED_MODEL_METADATA = "assets.extra/effnet.json"  # the folder TF Serving reserves for such files


def formats_of(backend: str) -> list[str]:
    return [name for b, name in FORMATS if b == backend]


def export_format(backend: str, fmt: str) -> ExportFormat:
    """The format ``backend`` writes under the name ``fmt``; ExportError names what is wrong."""
    if fmt not in FORMAT_NAMES:
        raise ExportError(f"unknown export format {fmt!r}; known: {', '.join(FORMAT_NAMES)}")
    if (backend, fmt) not in FORMATS:
        writers = [repr(b) for b, name in FORMATS if name == fmt]
        by = f"the {writers[0]} backend" if len(writers) == 1 else f"the {' and '.join(writers)} backends"
        writes = ", ".join(formats_of(backend)) or "none"
        raise ExportError(
            f"backend {backend!r} cannot export {fmt!r} (that format is written by {by}); "
            f"{backend} writes: {writes}"
        )
    return FORMATS[backend, fmt]


@dataclass(frozen=True)
class ExportOptions:
    """What the artifact accepts. ``image_size``: a fixed (height, width) (None with ``dynamic``);
    ``batch``: a fixed batch (None with ``dynamic_batch``)."""

    image_size: tuple[int, int] | None
    batch: int | None = 1
    include_preprocessing: bool = False

    @property
    def dynamic(self) -> bool:
        return self.image_size is None

    @property
    def dynamic_batch(self) -> bool:
        return self.batch is None


def min_dynamic_size(ms: ModelSpec) -> int:
    """The smallest height/width a dynamic-size artifact accepts: the last feature map must be at
    least 2 x 2 (an exported graph may not switch broadcasting on a size becoming 1). For the spec's
    models (total stride 32) this is 33."""
    stride = math.prod(c.stride for c in (ms.stem, *(c for b in ms.blocks for c in b.convs), ms.head))
    return stride + 1


def options(
    ms: ModelSpec,
    backend: str,
    fmt: str,
    *,
    image_size: int | tuple[int, int] | None = None,
    dynamic: bool = False,
    batch: int | None = 1,
    dynamic_batch: bool = False,
    include_preprocessing: bool = False,
) -> ExportOptions:
    """Validate a request; ExportError names what is wrong. ``image_size``: N (square) or (H, W);
    neither it nor ``dynamic``: the model's eval size."""
    spec_fmt = export_format(backend, fmt)
    if dynamic and image_size is not None:
        raise ExportError("give either --image-size or --dynamic, not both")
    if dynamic and not spec_fmt.dynamic_size:
        raise ExportError(
            f"{fmt} files have a fixed input size: give --image-size N (default: the model's eval "
            f"size, {ms.image_size.eval}) instead of --dynamic"
        )
    if dynamic_batch and batch not in (None, 1):
        raise ExportError("give either --batch or --dynamic-batch, not both")
    size = None if dynamic else (image_size or ms.image_size.eval)
    if isinstance(size, int):
        size = (size, size)
    if size is not None and min(size) < 1:
        raise ExportError(f"--image-size must be >= 1, got {size[0]}x{size[1]}")
    if batch is not None and batch < 1:
        raise ExportError(f"--batch must be >= 1, got {batch}")
    return ExportOptions(
        None if size is None else (int(size[0]), int(size[1])),
        None if dynamic_batch else batch,
        include_preprocessing,
    )


def metadata(ms: ModelSpec, backend: str, fmt: str, opts: ExportOptions) -> dict[str, Any]:
    """What an artifact says about itself (stored as one JSON document under ``METADATA_KEY``)."""
    f = FORMATS[backend, fmt]
    pre = ms.preprocessing
    if opts.include_preprocessing:
        value_range = "RGB pixels in [0, 255] (the graph applies x * scale + offset)"
    else:
        value_range = "network input: RGB pixels in [0, 255] times scale plus offset, per channel"
    return {
        "schema": METADATA_SCHEMA,
        "library": "effnet-spec",
        "library_version": effnet.__version__,
        "spec_version": ms.spec_version,
        "model": ms.name,
        "profile": ms.profile,
        "spec_hash": ms.spec_hash,
        "num_classes": ms.num_classes,
        "backend": f.backend,
        "format": fmt,
        "input_layout": f.layout,
        "input_dtype": "float32",
        "input_range": value_range,
        "include_preprocessing": opts.include_preprocessing,
        "preprocessing": {"scale": list(pre.scale), "offset": list(pre.offset)},
        "image_size": "dynamic" if opts.dynamic else list(opts.image_size),
        "min_image_size": min_dynamic_size(ms) if opts.dynamic else None,
        "batch": "dynamic" if opts.dynamic_batch else opts.batch,
        "output": "logits (N, num_classes), float32",
    }


def dumps(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True)


def loads(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except ValueError as err:
        raise ExportError(f"{where}: its effnet metadata is not JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("schema") != METADATA_SCHEMA:
        raise ExportError(f"{where}: not an effnet export (metadata schema {METADATA_SCHEMA} missing)")
    return meta


def to_pixels(ms: ModelSpec, x: np.ndarray) -> np.ndarray:
    """Network inputs (NHWC) -> the [0, 255] pixels that preprocess to them (float32); for feeding an
    artifact with the preprocessing baked in the same images as one without."""
    scale = np.asarray(ms.preprocessing.scale, np.float64)
    offset = np.asarray(ms.preprocessing.offset, np.float64)
    return ((x.astype(np.float64) - offset) / scale).astype(np.float32)


def check_input(meta: dict[str, Any], shape: tuple[int, ...], where: str) -> None:
    """A clear error, before the runtime's own, when an input does not fit the artifact: wrong rank or
    channels, a size other than a fixed-size file's, a size below a dynamic file's minimum, or a
    batch other than a fixed batch."""
    layout = meta["input_layout"]
    expect = f"{layout} float32 batch with 3 channels"
    if len(shape) != 4 or shape[layout.index("C")] != 3:
        raise ExportError(f"{where}: expected an {expect}, got shape {tuple(shape)}")
    hw = (shape[layout.index("H")], shape[layout.index("W")])
    size = meta["image_size"]
    if size != "dynamic" and list(hw) != list(size):
        raise ExportError(
            f"{where}: this file takes {size[0]}x{size[1]} images only (exported at a fixed size); "
            f"got {hw[0]}x{hw[1]}: resize the input, or export again with --image-size {hw[0]} or "
            "--dynamic where the format allows"
        )
    low = meta.get("min_image_size")
    if size == "dynamic" and low and min(hw) < low:
        raise ExportError(f"{where}: height and width must be >= {low}, got {hw[0]}x{hw[1]}")
    batch = meta["batch"]
    if batch != "dynamic" and shape[0] != batch:
        raise ExportError(f"{where}: this file takes a batch of {batch} exactly, got {shape[0]}")
