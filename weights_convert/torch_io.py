"""Reading and writing torch-style state dicts as numpy: .pt/.pth (torch.load with
``weights_only=True``, never arbitrary unpickling) or .safetensors. Common wrappers are unwrapped:
``{"state_dict": ...}``, ``{"model": ...}``, ``{"state_dict_ema": ...}`` and DDP's ``module.``.
Half-precision tensors become float32 (exactly); sparse, quantized and other non-dense tensors are
refused by name, and every tensor is vetted by ``tensors.check_numbers``."""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np

from . import safetensors_io
from .atomic import write_bytes
from .errors import WeightsError
from .tensors import check_numbers
from .torch_tensors import to_numpy

State = dict[str, np.ndarray]
WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")
# torch's words for a pickle that names a Python callable (which unpickling would call)
_CODE = re.compile(r"unsupported global|not an allowed global", re.IGNORECASE)


def read_state(path: str | os.PathLike[str]) -> State:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if path.suffix == ".safetensors":
        return safetensors_io.read(path)[0]
    return check_numbers(_read_pickle(path), path)


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _read_pickle(path: Path) -> State:
    import pickle

    import torch

    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: the file is empty")
    try:
        with warnings.catch_warnings():  # e.g. "validating sparse tensor invariants": not the user's concern
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = next((line.strip() for line in str(err).splitlines() if _CODE.search(line)), None)
        if detail:  # it names Python callables beyond tensors and containers: never unpickle those
            raise WeightsError(
                f"{path}: refused: loading it would call Python code named in the file, which "
                f"torch.load(weights_only=True) does not execute ({detail})"
            ) from err
        raise WeightsError(f"{path}: not a readable torch checkpoint ({_first_line(err)})") from err
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise WeightsError(f"{path}: not a readable torch checkpoint ({_first_line(err)})") from err
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state_dict of tensors")
    if obj and all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return {str(k): to_numpy(str(k), v, path) for k, v in obj.items()}


def write_state(path: str | os.PathLike[str], state: State) -> None:
    path = Path(path)
    if path.suffix == ".safetensors":
        safetensors_io.write(path, state)
        return
    import torch

    tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    write_bytes(path, buffer.getvalue())
