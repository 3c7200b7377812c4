"""CutMix (Yun et al. 2019) as google/automl applies it, and how it shares a batch with mixup.

AUTOML-V2 below is google/automl@6a54c8741e7c:efficientnetv2/datasets.py.

- The box (:func:`cutmix_box`, AUTOML-V2 ``cutmix_mask``, lines 191-219): a centre drawn uniformly
  over the pixels, ``area ~ Beta(alpha, alpha)``, sides ``int(sqrt(1 - area) * side)``, the box
  ``[centre - side // 2, centre + side // 2)`` clipped to the image. One box per example, drawn at
  the example's (the stage's) image size (line 325).
- Pasting (:func:`cutmix`, lines 221-242): inside its box an example takes its partner's pixels, and
  its label becomes ``(1 - a) * own + a * partner's`` where ``a`` is the pasted fraction of the
  image. Deviations: AUTOML-V2 uses one ``a`` for the whole batch, the mean of all the batch's masks
  (line 236), and the reversed batch as partners (line 238); here ``a`` is each example's own pasted
  area, as in the CutMix paper, and partners are a random permutation, as :func:`augment.mixup` draws
  them.
- Alpha: the spec's ``cutmix_alpha``, in automl's code equal to mixup's alpha (google/automl@
  6a54c8741e7c:efficientnetv2/effnetv2_configs.py:229) and scheduled the same way (``np.linspace(0,
  alpha, stages)``, main.py:466). With both on, the batch is split in two: mixup on the first
  ``len // 2`` examples, cutmix on the rest (:func:`split_for_mixing`, lines 287-294); with one on, it
  takes the whole batch (lines 295-300).
"""

from __future__ import annotations

import math

import numpy as np

Box = tuple[int, int, int, int]  # (left, top, right, bottom), right/bottom exclusive


def cutmix_box(height: int, width: int, alpha: float, rng: np.random.Generator) -> Box:
    """automl's box: centre ~ uniform pixel, area ~ Beta(alpha, alpha), sides ``int(sqrt(1-area)*side)``."""
    if alpha <= 0:
        raise ValueError(f"cutmix alpha must be > 0, got {alpha}")
    cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
    ratio = math.sqrt(1.0 - float(rng.beta(alpha, alpha)))
    half_w, half_h = int(ratio * width) // 2, int(ratio * height) // 2
    return (
        min(max(cx - half_w, 0), width),
        min(max(cy - half_h, 0), height),
        min(max(cx + half_w, 0), width),
        min(max(cy + half_h, 0), height),
    )


def cutmix(
    x: np.ndarray, y_soft: np.ndarray, boxes: list[Box], perm: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x[i]`` takes ``x[perm[i]]`` inside ``boxes[i]``; ``y[i] = (1 - a_i) y[i] + a_i y[perm[i]]``
    with ``a_i`` the box's fraction of the image. Returns new ``(x, y, a)``; inputs are unchanged."""
    n, height, width = x.shape[:3]
    if not len(y_soft) == len(boxes) == len(perm) == n:
        raise ValueError(
            f"x, y_soft, boxes and perm differ in length: {n}, {len(y_soft)}, {len(boxes)}, {len(perm)}"
        )
    out = x.copy()
    areas = np.zeros(n, dtype=np.float64)
    for i, (left, top, right, bottom) in enumerate(boxes):
        out[i, top:bottom, left:right] = x[perm[i], top:bottom, left:right]
        areas[i] = max(right - left, 0) * max(bottom - top, 0) / (height * width)
    a = areas.astype(y_soft.dtype)[:, None]
    return out, y_soft * (1 - a) + y_soft[perm] * a, areas


def split_for_mixing(n: int, mixup_alpha: float, cutmix_alpha: float) -> tuple[slice, slice]:
    """The rows mixup and cutmix each take of an ``n``-example batch (automl's half-half split)."""
    if mixup_alpha > 0 and cutmix_alpha > 0:
        return slice(0, n // 2), slice(n // 2, n)
    if mixup_alpha > 0:
        return slice(0, n), slice(n, n)
    if cutmix_alpha > 0:
        return slice(0, 0), slice(0, n)
    return slice(0, 0), slice(0, 0)
