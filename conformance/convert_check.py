"""``effnet convert --check``: build the model each side of a conversion describes, run both on one
random batch, and report the largest output difference.

Each weight format names its runner (``Format.runner`` in ``effnet.weights_convert.formats``): the
implementation that reads such a file, here a function (path, loaded weights) -> model callable on an
NHWC float32 batch returning logits (numpy). Frameworks are imported only when their runner is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effnet import backends, spec
from effnet.weights_convert import torch_io
from effnet.weights_convert.convert import Loaded
from effnet.weights_convert.formats import get_format

Runner = Callable[[np.ndarray], np.ndarray]


def _torch_module_runner(module: object) -> Runner:
    import torch

    module.eval()  # type: ignore[attr-defined]

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))  # type: ignore[operator]
        return out.numpy()

    return run


def _state_dict_tensors(path: Path) -> dict[str, object]:
    import torch

    return {k: torch.from_numpy(np.array(v)) for k, v in torch_io.read_state(path).items()}


def _torchvision(path: Path, loaded: Loaded) -> Runner:
    import torchvision

    ms = loaded.spec
    net = torchvision.models.get_model(
        spec.implementation_name(ms.name, "torchvision"), weights=None, num_classes=ms.num_classes
    )
    net.load_state_dict(_state_dict_tensors(path), strict=True)
    return _torch_module_runner(net)


def _timm(path: Path, loaded: Loaded) -> Runner:
    import timm

    ms = loaded.spec
    net = timm.create_model(
        spec.implementation_name(ms.name, ms.profile), pretrained=False, num_classes=ms.num_classes
    )
    net.load_state_dict(_state_dict_tensors(path), strict=True)
    return _torch_module_runner(net)


def _registered(name: str) -> Callable[[Path, Loaded], Runner]:
    """One of our backends (``effnet.backends``): its builder makes the model, its conformance adapter
    loads the canonical weights and runs it."""

    def make(path: Path, loaded: Loaded) -> Runner:
        adapter = backends.provide(name, "adapter")
        model = backends.provide(name, "builder")(loaded.spec, include_top=loaded.include_top)
        adapter.set_state(model, loaded.weights)

        def run(x: np.ndarray) -> np.ndarray:
            out = adapter.forward(model, x)
            return out["logits"] if "logits" in out else out["pre_logits"]

        return run

    return make


def _keras_applications(path: Path, loaded: Loaded) -> Runner:
    """keras.applications with ``weights=None`` loading the file itself (Keras' loader), built per
    input size (V1's stride-2 padding is static, SOURCES §3.3). The input is the network input: V2 runs
    without its preprocessing; V1 always normalises in-model, so it gets pixels and the spec's
    mean/variance (the file's were vetted on load, ``keras_applications.check_normalization``)."""
    from effnet import impl_tf  # noqa: F401, I001  (first: it selects keras' TensorFlow backend)
    import keras

    from effnet.weights_convert import keras_applications

    ms = loaded.spec
    v1 = ms.family == keras_applications.FAMILY
    scale, offset = (np.asarray(v, np.float32) for v in (ms.preprocessing.scale, ms.preprocessing.offset))

    def run(x: np.ndarray) -> np.ndarray:
        net = getattr(keras.applications, spec.implementation_name(ms.name, "keras"))(
            weights=None,
            include_top=loaded.include_top,
            input_shape=x.shape[1:],
            classes=ms.num_classes,
            classifier_activation=None,
            **({} if v1 else {"include_preprocessing": False}),
        )
        net.load_weights(str(path))
        if v1:
            norm = next(layer for layer in net.layers if isinstance(layer, keras.layers.Normalization))
            norm.set_weights(list(keras_applications.normalization_tensors(ms).values()))
            norm.finalize_state()  # Keras 3's Normalization reads its variables only then
            x = (x - offset) / scale  # network input -> pixels
        return np.asarray(net(x, training=False))

    return run


# runner name (``Format.runner``) -> how to build and run a file of that format: the reference
# libraries here, every registered backend through its registry row
LIBRARY_RUNNERS: dict[str, Callable[[Path, Loaded], Runner]] = {
    "torchvision": _torchvision,
    "timm": _timm,
    "keras-applications": _keras_applications,
}


def runner(name: str) -> Callable[[Path, Loaded], Runner]:
    return LIBRARY_RUNNERS[name] if name in LIBRARY_RUNNERS else _registered(name)


@dataclass(frozen=True)
class CheckResult:
    max_abs: float
    max_rel: float  # max|a - b| / max|b|, b the source's output
    shape: tuple[int, ...]


def check(src: Path, src_loaded: Loaded, dst: Path, dst_loaded: Loaded, *, seed: int = 0) -> CheckResult:
    """Run both sides on one random NHWC batch (2 x 161 x 129, odd and non-square)."""
    x = np.random.default_rng(seed).standard_normal((2, 161, 129, 3)).astype(np.float32)
    a = runner(get_format(src_loaded.format).runner)(src, src_loaded)(x)
    b = runner(get_format(dst_loaded.format).runner)(dst, dst_loaded)(x)
    diff = float(np.abs(a - b).max())
    return CheckResult(diff, diff / float(np.abs(a).max()), tuple(a.shape))
