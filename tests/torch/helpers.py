"""Shared helpers: foreign reference models with random weights and randomised BN statistics."""

from __future__ import annotations

import numpy as np
import torch

from effnet import spec
from effnet.conformance.tolerances import tolerance
from effnet.spec import reference
from effnet.weights_convert.formats import FORMATS, from_canonical

# (our model, library, library model name) checked in CI; every model in the slow session.
CI_REFERENCES = [
    ("efficientnet-b0", "torchvision", "efficientnet_b0"),
    ("efficientnetv2-s", "torchvision", "efficientnet_v2_s"),
    ("efficientnetv2-b0", "timm", "tf_efficientnetv2_b0"),
    ("efficientnet-b0", "timm", "tf_efficientnet_b0"),
    ("efficientnetv2-s", "timm", "efficientnetv2_s"),
]


def all_references() -> list[tuple[str, str, str]]:
    out = []
    for library, profiles in (("torchvision", ("torchvision",)), ("timm", ("timm", "timm_tf"))):
        for profile in profiles:
            for name in spec.names():
                try:
                    out.append((name, library, spec.implementation_name(name, profile)))
                except spec.SpecError:
                    continue
    return out


def profile_of(library: str, foreign_name: str) -> str:
    """The profile a library's model name stands for (``tf_efficientnetv2_b0`` -> timm_tf)."""
    return spec.lookup(foreign_name, among=FORMATS[library].profiles)[1] or library


def foreign_model(library: str, foreign_name: str) -> torch.nn.Module:
    if library == "torchvision":
        import torchvision

        return torchvision.models.get_model(foreign_name, weights=None)
    import timm

    return timm.create_model(foreign_name, pretrained=False)


def randomised(
    ms: spec.ModelSpec, library: str, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
    """Random canonical weights (BN statistics included) and the same as a foreign state_dict."""
    weights = reference.random_weights(ms, seed)
    state = from_canonical(weights, ms, FORMATS[library])
    return weights, {k: torch.from_numpy(np.array(v)) for k, v in state.items()}


def max_rel(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    return float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())


FP32_EVAL = tolerance("float32", "eval")
