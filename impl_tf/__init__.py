"""The Keras 3 backend on TensorFlow: ``impl_tf.build(name, ...)`` -> ``keras.Model`` built from the spec.

Keras 3 picks its backend once, when it is first imported, from ``KERAS_BACKEND``; this package
sets it to ``tensorflow`` before importing keras, so users need not remember to. It refuses to load
(ImportError, naming the fix) when keras was already imported with another backend or the variable
asks for another one, rather than silently building a model on the wrong framework.

One process often holds TensorFlow and PyTorch (the conformance registry loads every installed
backend). Loading ``triton`` (torch.compile's compiler, imported by ``torch._dynamo`` and so by
torchvision) *after* TensorFlow 2.21 kills the interpreter with SIGSEGV (in ``triton/knobs.py``;
measured with torch 2.14.1 / torchvision 0.29.1); loaded before, both work. So when triton is
installed and TensorFlow is not loaded yet, this package imports triton first (about 0.1 s).
"""

from __future__ import annotations

import importlib.util
import os
import sys

BACKEND = "tensorflow"


def _select_keras_backend() -> None:
    keras = sys.modules.get("keras")
    if keras is not None:
        current = keras.backend.backend()
        if current != BACKEND:
            raise ImportError(
                f"impl_tf needs the Keras {BACKEND} backend, but keras was already imported with the "
                f"{current!r} backend; import impl_tf first or set KERAS_BACKEND={BACKEND} before "
                "anything imports keras"
            )
        return
    requested = os.environ.get("KERAS_BACKEND", BACKEND)
    if requested != BACKEND:
        raise ImportError(
            f"impl_tf needs KERAS_BACKEND={BACKEND}, but the environment sets KERAS_BACKEND={requested}"
        )
    os.environ["KERAS_BACKEND"] = BACKEND


def _load_triton_before_tensorflow() -> None:
    if "tensorflow" not in sys.modules and "triton" not in sys.modules and importlib.util.find_spec("triton"):
        import triton  # noqa: F401


_select_keras_backend()
_load_triton_before_tensorflow()

from .build import build, canonical_state, from_spec, load_canonical_state  # noqa: E402
from .export import export, load_exported  # noqa: E402
from .model import ConvBN, DropPath, EfficientNet, FusedMBConv, MBConv, SqueezeExcite  # noqa: E402

__all__ = [
    "ConvBN",
    "DropPath",
    "EfficientNet",
    "FusedMBConv",
    "MBConv",
    "SqueezeExcite",
    "build",
    "canonical_state",
    "export",
    "from_spec",
    "load_canonical_state",
    "load_exported",
]
