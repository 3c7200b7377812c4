"""Certification adapters over exported files (``effnet export``): one per (backend, format). The
model is built by our backend; ``set_state`` loads the certifier's weights into it; ``forward``
exports it with those weights (to a temporary file, once per weights and, for a fixed-size format,
per input size), loads the file back in its own runtime (ONNX Runtime, ``torch.export.load``,
``tf.saved_model.load``, the LiteRT interpreter, ``jax.export.deserialize``) and runs the file.

Levels: L0 checks the exported model's canonical tensors (those of the source model the file is
written from); L1 and L2 run the file itself; L3 and L4 are skipped (a deployment file runs inference
only). Dynamic-size formats are exported once with dynamic height, width and batch, so L1 and L2 run
one file at every size. ``include_preprocessing=True`` certifies the graph with the input scaling
baked in (fed the [0, 255] pixels that preprocess to the certifier's inputs).

:func:`check_file` is ``effnet export --check``'s second half: one written file against the float64
oracle with the weights it was written with.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from effnet import backends
from effnet.spec import ModelSpec, reference
from effnet.weights_convert.export_meta import FORMATS, min_dynamic_size, to_pixels

from .. import checks
from ..certify import ODD_SIZES
from ..protocol import Weights
from ..tolerances import tolerance
from .ours import OursDeclaration

CACHED_FILES = 2  # exported files kept per adapter (a dynamic file serves every size)
# the matrix's rows for exported files (each fixed-size format exports once per checked size; the
# largest models' conversions take long): any other model is certified with --models
CLAIMED = ("efficientnetv2-b0", "efficientnetv2-s", "efficientnet-b0")


@dataclass
class Source:
    """What ``build`` returns: the backend model the file is exported from."""

    ms: ModelSpec
    model: Any
    digest: str = ""
    files: dict[Any, Any] = field(default_factory=dict)


def _digest(weights: Weights) -> str:
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode())
        h.update(np.ascontiguousarray(weights[name]).tobytes())
    return h.hexdigest()


def layout_of(layout: str, x: np.ndarray) -> np.ndarray:
    """An NHWC batch in a file's input layout (``NHWC`` or ``NCHW``)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if layout == "NCHW" else x)


class ExportedAdapter(OursDeclaration):
    version = "1"

    def __init__(self, backend: str, fmt: str, *, include_preprocessing: bool = False) -> None:
        self.backend, self.format, self.include_preprocessing = backend, fmt, include_preprocessing
        self.name = f"{backend}-{fmt}" + ("+preprocessing" if include_preprocessing else "")
        self._folder: Path | None = None
        self._cache: dict[tuple[str, str, Any], Any] = {}

    def claims(self) -> list[tuple[str, str]]:
        return [(model, profile) for model, profile in super().claims() if model in CLAIMED]

    def package(self) -> ModuleType:
        return importlib.import_module(backends.get(self.backend).package)

    def _tmp(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix=f"effnet-{self.name}-"))
            atexit.register(shutil.rmtree, self._folder, ignore_errors=True)
        return self._folder

    def build(self, ms: ModelSpec) -> Source:
        return Source(ms, self.package().from_spec(ms))

    def set_state(self, model: Source, weights: Weights) -> None:
        self.package().load_canonical_state(model.model, weights)
        model.digest = _digest(weights)

    def get_state(self, model: Source) -> Weights:
        return self.package().canonical_state(model.model)

    def exported(self, model: Source, x_shape: tuple[int, ...]) -> Any:
        """The file for this input (exported now unless cached), loaded in its runtime."""
        dynamic = FORMATS[self.backend, self.format].dynamic_size
        size = None if dynamic else (x_shape[1], x_shape[2])
        key = (model.ms.spec_hash, model.digest or _digest(self.get_state(model)), size, x_shape[0])
        if dynamic:
            key = key[:3]
        if key not in self._cache:
            while len(self._cache) >= CACHED_FILES:
                self._cache.pop(next(iter(self._cache)))
            suffix = FORMATS[self.backend, self.format].suffix
            path = self._tmp() / f"{model.ms.name}-{len(list(self._tmp().iterdir()))}{suffix}"
            pkg = self.package()
            pkg.export(
                model.model,
                path,
                format=self.format,
                image_size=size,
                dynamic=dynamic,
                batch=None if dynamic else x_shape[0],
                dynamic_batch=dynamic,
                include_preprocessing=self.include_preprocessing,
            )
            self._cache[key] = pkg.load_exported(path)
        return self._cache[key]

    def run(self, exported: Any, ms: ModelSpec, x: np.ndarray) -> np.ndarray:
        """Feed an NHWC batch of network inputs to a loaded file (as pixels when it preprocesses)."""
        inputs = to_pixels(ms, x) if exported.metadata["include_preprocessing"] else x
        return exported(layout_of(FORMATS[self.backend, self.format].layout, inputs))

    def forward(self, model: Source, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        if training:
            raise NotImplementedError("an exported file runs inference only")
        return {"logits": self.run(self.exported(model, x.shape), model.ms, x)}


def adapter(name: str) -> ExportedAdapter:
    """``torch-onnx``, ``tf-litert``, ... (``+preprocessing`` appended: with the scaling baked in)."""
    base, _, extra = name.partition("+")
    backend, _, fmt = base.partition("-")
    if (backend, fmt) not in FORMATS or extra not in ("", "preprocessing"):
        raise LookupError(f"no exported-file adapter {name!r}; known: {', '.join(NAMES)}")
    return ExportedAdapter(backend, fmt, include_preprocessing=bool(extra))


NAMES = tuple(f"{backend}-{fmt}" for backend, fmt in FORMATS)


@dataclass
class FileCheck:
    level: str
    size: tuple[int, int]
    result: checks.Result


def check_sizes(ms: ModelSpec, meta: dict[str, Any]) -> list[tuple[str, tuple[int, int]]]:
    """(level, size) a file is checked at: a dynamic file at the eval size (L1) and the certifier's odd
    sizes it accepts (L2); a fixed-size file at its size (L1 when that is the eval size, else L2)."""
    eval_size = (ms.image_size.eval, ms.image_size.eval)
    if meta["image_size"] != "dynamic":
        size = (int(meta["image_size"][0]), int(meta["image_size"][1]))
        return [("L1" if size == eval_size else "L2", size)]
    low = min_dynamic_size(ms)
    return [("L1", eval_size)] + [("L2", s) for s in ODD_SIZES if min(s) >= low]


def check_file(
    exported: Any, ms: ModelSpec, weights: Weights, *, seed: int = 0, sizes: Any = None
) -> list[FileCheck]:
    """A loaded file (``load_exported``) against the float64 numpy oracle run with ``weights`` (those
    it was exported with), at :func:`check_sizes` (or ``sizes``: (level, (h, w)) pairs)."""
    meta = exported.metadata
    batch = 1 if meta["batch"] == "dynamic" else int(meta["batch"])
    out = []
    for i, (level, (h, w)) in enumerate(sizes or check_sizes(ms, meta)):
        x = np.random.default_rng(seed + i).standard_normal((batch, h, w, 3)).astype(np.float32)
        inputs = to_pixels(ms, x) if meta["include_preprocessing"] else x
        got = np.asarray(exported(layout_of(meta["input_layout"], inputs)))
        expected = reference.forward(ms, weights, x, training=False).intermediates["logits"]
        where = f"{Path(exported.path).name} vs numpy, eval, {h}x{w}"
        result = checks.compare(
            ms, {"logits": got}, {"logits": expected}, tolerance("float32", "eval"), "eval", where
        )
        out.append(FileCheck(level, (h, w), result))
    return out


def check_export(
    backend: str, fmt: str, ms: ModelSpec, meta: dict[str, Any], *, include_preprocessing: bool = False
) -> list[FileCheck]:
    """The export path itself, with the certifier's calibrated weights (random weights whose BN
    statistics keep every layer's activations O(1), so a wrong pad or scale cannot hide in a vanishing
    signal): a file like the one ``meta`` describes is exported from a model holding them and checked
    at the same sizes as :func:`check_file`."""
    from ..certify import CALIBRATION_BATCH, CALIBRATION_SIZE, _batch, calibrated_weights

    adapter = ExportedAdapter(backend, fmt, include_preprocessing=include_preprocessing)
    source = adapter.build(ms)
    weights = calibrated_weights(ms, _batch(*CALIBRATION_SIZE, 3, batch=CALIBRATION_BATCH))
    adapter.set_state(source, weights)
    batch = 1 if meta["batch"] == "dynamic" else int(meta["batch"])
    sizes = check_sizes(ms, meta)
    out = []
    for level, (h, w) in sizes:
        exported = adapter.exported(source, (batch, h, w, 3))
        out += check_file(exported, ms, weights, sizes=[(level, (h, w))], seed=len(out))
    return out
