"""A torch tensor read from a checkpoint, as numpy: the one place torch's tensor kinds are vetted
(used by the torch and safetensors readers)."""

from __future__ import annotations

import os

import numpy as np

from .errors import WeightsError


def to_numpy(name: str, tensor: object, path: str | os.PathLike[str]) -> np.ndarray:
    """A dense CPU copy of one tensor as numpy (half precision as float32), or a WeightsError."""
    import torch

    assert isinstance(tensor, torch.Tensor)
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.is_meta:
        kind = "quantized" if tensor.is_quantized else "meta" if tensor.is_meta else str(tensor.layout)
        raise WeightsError(f"{path}: tensor {name!r} is a {kind} tensor; save dense tensors")
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()
    try:
        return tensor.numpy()
    except (TypeError, RuntimeError) as err:
        raise WeightsError(f"{path}: tensor {name!r} ({tensor.dtype}) cannot be read: {err}") from err
