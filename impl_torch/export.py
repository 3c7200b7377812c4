"""Deployment files from a built model: ONNX (run by ONNX Runtime) and ``torch.export`` (``.pt2``).

``export(model, out, format=...)`` writes one file atomically (temporary file, renamed at the end) with
the metadata of ``weights_convert.export_meta`` inside it; ``load_exported(path)`` loads it back in
its own runtime as a callable on numpy batches in the artifact's layout (NCHW).

Dynamic height and width: both formats go through ``torch.export`` with symbolic sizes. TF SAME pads
are computed by ``spec.padding.tf_same_pads`` in integer arithmetic on the symbolic size, so the
graph computes them from each input's size (a pad baked in at trace time is the classic failure);
a symbolic size must keep the last feature map >= 2 x 2 (``export_meta.min_dynamic_size``: 33 for
stride 32).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from effnet.weights_convert import atomic
from effnet.weights_convert.export_meta import (
    FORMATS,
    METADATA_KEY,
    ExportError,
    ExportOptions,
    check_input,
    dumps,
    loads,
    metadata,
    min_dynamic_size,
    options,
)

from .model import EfficientNet

INPUT_NAME, OUTPUT_NAME = "images", "logits"
EXTRA_FILE = "effnet.json"  # the metadata inside a .pt2 archive


class Deployable(nn.Module):
    """The model in eval mode, with the spec's input scaling in front when asked (RGB pixels in
    [0, 255] in); what is exported."""

    def __init__(self, model: EfficientNet, include_preprocessing: bool) -> None:
        super().__init__()
        self.model = model
        pre = model.spec.preprocessing
        self.include_preprocessing = include_preprocessing
        self.register_buffer("scale", torch.tensor(pre.scale, dtype=torch.float32).reshape(1, 3, 1, 1))
        self.register_buffer("offset", torch.tensor(pre.offset, dtype=torch.float32).reshape(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.include_preprocessing:
            x = x * self.scale + self.offset
        return self.model(x)


def _exported_program(model: EfficientNet, opts: ExportOptions) -> torch.export.ExportedProgram:
    if not model.include_top:
        raise ExportError("export writes classifiers: build the model with include_top=True")
    module = Deployable(model, opts.include_preprocessing).eval()
    height, width = opts.image_size or (model.spec.image_size.eval,) * 2
    batch = opts.batch or 2  # an example batch of 1 would be specialised to 1
    dims: dict[int, Any] = {}
    if opts.dynamic_batch:
        dims[0] = torch.export.Dim("batch", min=1)
    if opts.dynamic:
        low = min_dynamic_size(model.spec)
        dims[2], dims[3] = torch.export.Dim("height", min=low), torch.export.Dim("width", min=low)
    example = torch.zeros(batch, 3, height, width)
    with torch.no_grad():
        return torch.export.export(module, (example,), dynamic_shapes=(dims or None,))


def export(
    model: EfficientNet,
    out: str | os.PathLike[str],
    *,
    format: str = "onnx",
    image_size: int | tuple[int, int] | None = None,
    dynamic: bool = False,
    batch: int | None = 1,
    dynamic_batch: bool = False,
    include_preprocessing: bool = False,
) -> Path:
    """Write ``model`` (eval mode, its current weights) as ``format`` (``onnx`` or ``torch-export``)
    to ``out``. ``image_size``: N or (H, W), fixed; ``dynamic``: any height and width >= the
    minimum (``export_meta.min_dynamic_size``); neither: the model's eval size, fixed. ``batch``: a
    fixed batch; ``dynamic_batch``: any. ``include_preprocessing``: the file takes [0, 255] pixels."""
    opts = options(
        model.spec,
        "torch",
        format,
        image_size=image_size,
        dynamic=dynamic,
        batch=batch,
        dynamic_batch=dynamic_batch,
        include_preprocessing=include_preprocessing,
    )
    out = atomic.check_target(out)
    meta = dumps(metadata(model.spec, "torch", format, opts))
    was_training = model.training
    try:
        program = _exported_program(model, opts)
    finally:
        model.train(was_training)
    if format == "torch-export":
        buffer = io.BytesIO()
        torch.export.save(program, buffer, extra_files={EXTRA_FILE: meta})
        atomic.write_bytes(out, buffer.getvalue())
        return out
    onnx_program = torch.onnx.export(
        program, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamo=True, verbose=False
    )
    onnx_program.optimize()
    proto = onnx_program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta
    atomic.write_bytes(out, proto.SerializeToString())
    return out


class Exported:
    """An exported file loaded in its own runtime: ``exported(x)`` -> logits for an NCHW float32
    batch (RGB pixels in [0, 255] when the preprocessing is baked in); ``metadata`` says what it is."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        if self.path.suffix == FORMATS["torch", "torch-export"].suffix:
            extra = {EXTRA_FILE: ""}
            program = torch.export.load(self.path, extra_files=extra)
            self.metadata = loads(extra[EXTRA_FILE], str(self.path))
            module = program.module()
            self._run = lambda x: module(torch.from_numpy(x)).detach().numpy()
        else:
            import onnxruntime as ort

            session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
            custom = session.get_modelmeta().custom_metadata_map
            self.metadata = loads(custom.get(METADATA_KEY, ""), str(self.path))
            name = session.get_inputs()[0].name
            self._run = lambda x: session.run(None, {name: x})[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        check_input(self.metadata, x.shape, str(self.path))
        with torch.no_grad():
            return np.asarray(self._run(np.ascontiguousarray(x, dtype=np.float32)))


def load_exported(path: str | os.PathLike[str]) -> Exported:
    """Load an ``.onnx`` or ``.pt2`` file written by :func:`export`."""
    return Exported(path)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The effnet metadata of an exported file, without running it."""
    path = Path(path)
    if path.suffix == FORMATS["torch", "torch-export"].suffix:
        import zipfile

        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith(f"extra/{EXTRA_FILE}")), None)
            if name is None:
                raise ExportError(f"{path}: not an effnet export (no {EXTRA_FILE})")
            return loads(archive.read(name), str(path))
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    return loads(props.get(METADATA_KEY, ""), str(path))


__all__ = ["Deployable", "Exported", "export", "load_exported", "read_metadata"]
