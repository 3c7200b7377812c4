"""What keras.applications files hold beyond the canonical tensors: EfficientNet V1's in-model
``Normalization`` layer (SOURCES §3.4, §6.4; keras ``applications/efficientnet.py``).

keras.applications V1 (B0-B7) starts with ``Rescaling(1/255)`` -> ``Normalization(axis=-1)``, and
the normalization's ``mean``, ``variance`` and ``count`` are weights of the file. (V2 passes its
constants to the layer: no weights.) The released ImageNet files store the standard deviation
where the variance belongs (tensorflow/tensorflow#49930): keras.applications compensates only when
built with ``weights="imagenet"``, by inserting ``Rescaling(1/sqrt(std))``, so that overall it
computes ``(x/255 - mean) / std``, which is the ``keras`` profile's preprocessing.

- Import: the file's mean/variance must be the spec's preprocessing (variance = std^2), or the
  released files' quirk (variance = std; detected and logged, the spec's preprocessing already is
  what keras.applications computes with it). Anything else (e.g. the identity mean 0 / variance 1 of
  a never-adapted ``weights=None`` model) is an error that names the preprocessing the file implies
  and the ``preprocessing=`` override that adopts it.
- Export: written from the spec's preprocessing with the true variance (std^2), so a
  ``weights=None`` keras.applications model that loads the file computes the spec's preprocessing
  without the extra ``Rescaling``. A released file converted and written back is therefore
  corrected, not copied.
"""

from __future__ import annotations

import logging

import numpy as np

from effnet.spec import ModelSpec

from .errors import WeightsError

State = dict[str, np.ndarray]
LAYER = "normalization"
FAMILY = "efficientnet-v1"  # only keras.applications V1 stores normalization weights
# the file holds float32 copies of float64 constants: a few float32 ulps apart, no more
FLOAT32_ROUNDING = 1e-6
logger = logging.getLogger(__name__)


def _mean_std(ms: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """The spec's ``x * scale + offset`` as keras' ``(x/255 - mean) / std``."""
    scale = np.asarray(ms.preprocessing.scale, np.float64)
    std = 1.0 / (255.0 * scale)
    return -np.asarray(ms.preprocessing.offset, np.float64) * std, std


def normalization_tensors(ms: ModelSpec) -> State:
    """The ``normalization`` layer's weights for ``ms`` (empty outside EfficientNet V1)."""
    if ms.family != FAMILY:
        return {}
    mean, std = _mean_std(ms)
    return {
        f"{LAYER}/mean": mean.astype(np.float32),
        f"{LAYER}/variance": (std**2).astype(np.float32),
        f"{LAYER}/count": np.array(0, dtype=np.int64),
    }


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=FLOAT32_ROUNDING, atol=0.0))


def check_normalization(state: State, ms: ModelSpec, what: str) -> None:
    """Refuse a file whose in-model normalization is not the spec's preprocessing (see above)."""
    if ms.family != FAMILY or f"{LAYER}/mean" not in state or f"{LAYER}/variance" not in state:
        return
    got_mean = np.asarray(state[f"{LAYER}/mean"], np.float64).reshape(-1)
    got_var = np.asarray(state[f"{LAYER}/variance"], np.float64).reshape(-1)
    mean, std = _mean_std(ms)
    if got_mean.shape == mean.shape and _close(got_mean, mean):
        if _close(got_var, std**2):
            return
        if _close(got_var, std):
            logger.warning(
                "%s: the normalization layer stores the standard deviation as its variance, as the "
                "released keras.applications ImageNet files do (tensorflow/tensorflow#49930); read as "
                "the std of %s's preprocessing, and written back as std^2",
                what,
                ms.name,
            )
            return
    implied_std = np.sqrt(np.maximum(got_var, 0.0))
    raise WeightsError(
        f"{what}: its normalization layer computes (x/255 - {got_mean.tolist()}) / {implied_std.tolist()}, "
        f"which is neither the preprocessing of {ms.name} (profile {ms.profile}: mean {mean.tolist()}, "
        f"std {std.tolist()}) nor the released ImageNet files' std-as-variance quirk; to adopt the "
        f"file's, resolve with preprocessing={{'mean': {got_mean.tolist()}, 'std': {implied_std.tolist()}, "
        "'cite': ...}"
    )
