"""Reading and writing torch-style state dicts as numpy: .pt/.pth (torch.load with
``weights_only=True``, never arbitrary unpickling) or .safetensors. Common wrappers are unwrapped:
``{"state_dict": ...}``, ``{"model": ...}``, ``{"state_dict_ema": ...}`` and DDP's ``module.``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import WeightsError

State = dict[str, np.ndarray]
WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")


def read_state(path: str | os.PathLike[str]) -> State:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err
    return _read_pickle(path)


def _read_pickle(path: Path) -> State:
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = next((line.strip() for line in str(err).splitlines() if "Unsupported global" in line), None)
        if detail:  # it holds objects beyond tensors and containers: never unpickle those
            raise WeightsError(
                f"{path}: refused: it holds arbitrary Python objects, which "
                f"torch.load(weights_only=True) does not execute ({detail})"
            ) from err
        raise WeightsError(f"{path}: not a readable torch checkpoint") from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise WeightsError(f"{path}: not a readable torch checkpoint ({str(err).splitlines()[0]})") from err
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state_dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return {k: v.detach().cpu().numpy() for k, v in obj.items()}


def write_state(path: str | os.PathLike[str], state: State) -> None:
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import save_file

        with atomic_path(path) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp))
        return
    import torch

    tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    with atomic_path(path) as tmp:
        torch.save(tensors, str(tmp))
