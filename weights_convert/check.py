"""``effnet convert --check``: build the model each side of a conversion describes, run both on one
random batch, and report the largest output difference.

Each format has a runner: a function (path, model name, loaded weights) -> model callable on an NHWC
float32 batch returning logits (numpy). Frameworks are imported only when their runner is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import spec

from .convert import Loaded

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

    from . import torch_io

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


def _ours_torch(path: Path, loaded: Loaded) -> Runner:
    import impl_torch

    model = impl_torch.from_spec(loaded.spec, include_top=loaded.include_top)
    impl_torch.load_canonical_state(model, loaded.weights)
    return _torch_module_runner(model)


RUNNERS: dict[str, Callable[[Path, Loaded], Runner]] = {
    "torchvision": _torchvision,
    "timm": _timm,
    "torch": _ours_torch,
    "canonical": _ours_torch,
}


@dataclass(frozen=True)
class CheckResult:
    max_abs: float
    max_rel: float  # max|a - b| / max|b|, b the source's output
    shape: tuple[int, ...]


def check(src: Path, src_loaded: Loaded, dst: Path, dst_loaded: Loaded, *, seed: int = 0) -> CheckResult:
    """Run both sides on one random NHWC batch (2 x 161 x 129, odd and non-square)."""
    x = np.random.default_rng(seed).standard_normal((2, 161, 129, 3)).astype(np.float32)
    a = RUNNERS[src_loaded.format](src, src_loaded)(x)
    b = RUNNERS[dst_loaded.format](dst, dst_loaded)(x)
    diff = float(np.abs(a - b).max())
    return CheckResult(diff, diff / float(np.abs(a).max()), tuple(a.shape))
