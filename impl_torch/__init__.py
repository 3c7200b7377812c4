"""The PyTorch backend: ``impl_torch.build(name, ...)`` -> ``torch.nn.Module`` built from the spec."""

from .build import build, canonical_state, from_spec, load_canonical_state
from .export import export, load_exported
from .model import ConvBN, DropPath, EfficientNet, FusedMBConv, MBConv, SqueezeExcite

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
