"""Training-time augmentation and label mixing, framework-neutral (numpy + Pillow).

Why Pillow: it is what every backend can share without pulling in a framework (torch, jax and tf
each bring their own image ops, with different resampling kernels); it is small, well kept, and
releases the GIL while decoding, resizing and transforming, so a thread pool runs it in parallel;
and the reference RandAugment/AutoAugment implementations used outside TF (timm's
``auto_augment.py``, torchvision's ``RandAugment``) are written as PIL ops, which google/automl's
``autoaugment.py`` reimplements in TF ("Equivalent of PIL Color", ...).

All randomness comes from a ``numpy.random.Generator`` passed in, so results depend only on it.

Geometry
--------
- :func:`random_resized_crop`: torchvision's ``RandomResizedCrop`` sampling (area scale
  (0.08, 1.0), log-uniform aspect ratio (3/4, 4/3), ten tries, then a central fallback crop), resized
  with **bilinear** filtering (Pillow's, antialiased when shrinking). Bilinear is torchvision's
  default and what AUTOML-V2 ``preprocessing.py`` uses (``tf.image.resize``); automl samples the
  area from (0.05, 1.0) instead of (0.08, 1.0).
- :func:`center_crop_resize` (evaluation): resize the shorter side to ``floor(size / crop_pct)``
  and take the central ``size`` x ``size`` crop, crop_pct 0.875 (timm's default, and AUTOML-V2's
  ``size / (size + 32)`` at 224), **bilinear** as in training.
- :func:`random_flip`: horizontal, probability 0.5.

RandAugment (:func:`rand_augment`)
----------------------------------
``num_ops`` ops drawn uniformly with replacement from :data:`RANDAUG_OPS`, each applied at the
shared ``magnitude`` with a random sign where the op has one. The magnitude is on the scale of
google/automl ``efficientnetv2/autoaugment.py`` (AUTOML-V2; also tensorflow/tpu's EfficientNet
``autoaugment.py``), where ``_MAX_LEVEL = 10`` and an op's parameter is ``(magnitude / 10) * max``.
The EfficientNetV2 schedules (paper Table 6: 5 -> 15/20/25; code: 5 -> 10/15/20) are fed to that
code directly, so magnitudes above 10 extrapolate; values up to 30 are accepted (tensorflow/tpu's
EfficientNet README trains B7/B8 with ``--randaug_magnitude=28``). With ``f = magnitude / 10``:

=============  ===========================================  ==========================================
op             parameter                                    source
=============  ===========================================  ==========================================
Rotate         +-30 f degrees                               AUTOML-V2 ``_rotate_level_to_arg``
ShearX/Y       +-0.3 f                                      AUTOML-V2 ``_shear_level_to_arg``
TranslateX/Y   +-0.45 f of the image side                   timm ``_translate_rel_level_to_arg``
Color,         factor ``max(0.1, 1 +- 0.9 f)``              timm ``_enhance_increasing_level_to_arg``
Contrast,
Brightness,
Sharpness
Posterize      keep ``max(4, 8 - int(4 f))`` bits           range of torchvision ``RandAugment``
Solarize       threshold ``clip(256 - int(256 f), 0, 256)``  timm ``_solarize_increasing_level_to_arg``
AutoContrast,  no parameter                                 PIL ``ImageOps``
Equalize
=============  ===========================================  ==========================================

Two more ops serve AutoAugment only (:mod:`training.autoaugment`; not drawn by RandAugment): Invert
(``255 - x``, no parameter) and SolarizeAdd (add ``int(110 f)`` to every value below 128, clipped at
255; AUTOML-V2 ``solarize_add`` and its ``level_to_arg``, the same at every magnitude).

Where these differ from automl, it is so that a larger magnitude always means a stronger
distortion and magnitude 0 means none: automl's enhance factor ``1.8 f + 0.1`` is 0.1 (nearly
black/grey) at 0, its posterize keeps ``int(4 f)`` bits (0 bits, a black image, at 0) and its
solarize threshold ``int(256 f)`` inverts everything at 0. Translation is relative, not automl's
absolute ``translate_const = 100`` px, because progressive learning changes the image size every
stage. The 13 ops are torchvision's ``RandAugment`` set minus ``Identity``; automl also draws Invert,
Cutout and SolarizeAdd. Geometric ops use bilinear resampling and fill with grey (128, 128, 128)
(automl's ``replace_value``). Magnitude 0 (or ``num_ops`` 0) returns the image unchanged:
AutoContrast and Equalize take no magnitude and would otherwise still alter it.

Labels
------
:func:`soft_labels`: ``one_hot * (1 - smoothing) + smoothing / num_classes`` (the TF/Keras
``label_smoothing`` rule AUTOML-V2 applies in its loss). :func:`mixup`: batch-level mixup (Zhang et
al. 2018): one ``lam ~ Beta(alpha, alpha)`` per batch and a random permutation as partners; alpha 0
means no mixing. (AUTOML-V2 ``datasets.py`` instead draws one weight per example, takes
``max(w, 1 - w)`` and mixes with the reversed batch.) Smoothing and mixing are both affine with
weights summing to 1, so their order does not matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

Box = tuple[float, float, float, float]
Op = Callable[[Image.Image, float, np.random.Generator], Image.Image]
FILL = (128, 128, 128)
MAX_LEVEL = 10.0  # AUTOML-V2 autoaugment.py ``_MAX_LEVEL``
MAX_MAGNITUDE = 30.0
RESAMPLE = Image.Resampling.BILINEAR

RANDAUG_OPS: tuple[str, ...] = (
    "AutoContrast",
    "Equalize",
    "Rotate",
    "Solarize",
    "Color",
    "Posterize",
    "Contrast",
    "Brightness",
    "Sharpness",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
)


# --- geometry -------------------------------------------------------------------------------------


def random_resized_crop_box(
    width: int,
    height: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) crop of torchvision's ``RandomResizedCrop.get_params``."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return left, top, left + w, top + h
    in_ratio = width / height  # fallback: central crop at the nearest allowed aspect ratio
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        w, h = round(height * max(ratio)), height
    else:
        w, h = width, height
    top, left = (height - h) // 2, (width - w) // 2
    return left, top, left + w, top + h


def random_resized_crop(img: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    """A random crop (area 8-100%, aspect 3/4-4/3) resized to ``size`` x ``size``, bilinear."""
    box = random_resized_crop_box(img.width, img.height, rng)
    return img.resize((size, size), RESAMPLE, box=box)


def center_crop_box(width: int, height: int, size: int, crop_pct: float = 0.875) -> tuple[Box, int, int]:
    """``(box, w, h)``: resizing ``box`` of the image to ``size`` x ``size`` equals resizing the whole
    image to ``w`` x ``h`` (shorter side ``floor(size / crop_pct)``) and centre-cropping ``size``."""
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}")
    short = math.floor(size / crop_pct)
    if width <= height:
        w, h = short, int(short * height / width)
    else:
        w, h = int(short * width / height), short
    w, h = max(w, size), max(h, size)
    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    sx, sy = width / w, height / h
    return (left * sx, top * sy, (left + size) * sx, (top + size) * sy), w, h


def center_crop_resize(img: Image.Image, size: int, crop_pct: float = 0.875) -> Image.Image:
    """Evaluation transform: shorter side to ``floor(size / crop_pct)``, central ``size`` crop.

    Done as one bilinear resize of the crop's source box, which samples exactly the pixels (same
    centres, same filter support) that resizing the whole image and then cropping would.
    """
    box, _, _ = center_crop_box(img.width, img.height, size, crop_pct)
    return img.resize((size, size), RESAMPLE, box=box)


def random_flip(img: Image.Image, rng: np.random.Generator, p: float = 0.5) -> Image.Image:
    """Mirror left-right with probability ``p``."""
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < p else img


# --- RandAugment ----------------------------------------------------------------------------------


def _signed(value: float, rng: np.random.Generator) -> float:
    return -value if rng.random() < 0.5 else value  # AUTOML-V2 ``_randomly_negate_tensor``


def _affine(img: Image.Image, coeffs: tuple[float, ...]) -> Image.Image:
    if coeffs == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0):
        return img
    return img.transform(img.size, Image.Transform.AFFINE, coeffs, RESAMPLE, fillcolor=FILL)


def _enhance(kind: Callable[[Image.Image], Any]) -> Op:
    def op(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
        factor = max(0.1, 1.0 + _signed(0.9 * f, rng))
        return img if factor == 1.0 else kind(img).enhance(factor)

    return op


def _rotate(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    degrees = _signed(30.0 * f, rng)
    return img if degrees == 0.0 else img.rotate(degrees, RESAMPLE, fillcolor=FILL)


def _shear_x(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    return _affine(img, (1.0, _signed(0.3 * f, rng), 0.0, 0.0, 1.0, 0.0))


def _shear_y(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    return _affine(img, (1.0, 0.0, 0.0, _signed(0.3 * f, rng), 1.0, 0.0))


def _translate_x(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    return _affine(img, (1.0, 0.0, _signed(0.45 * f, rng) * img.width, 0.0, 1.0, 0.0))


def _translate_y(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    return _affine(img, (1.0, 0.0, 0.0, 0.0, 1.0, _signed(0.45 * f, rng) * img.height))


def _posterize(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    bits = max(4, 8 - int(4.0 * f))
    return img if bits >= 8 else ImageOps.posterize(img, bits)


def _solarize(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    threshold = min(256, max(0, 256 - int(256.0 * f)))
    return img if threshold >= 256 else ImageOps.solarize(img, threshold)


def _autocontrast(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    return ImageOps.autocontrast(img)


def _equalize(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    return ImageOps.equalize(img)


def _invert(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    return ImageOps.invert(img)


def _solarize_add(img: Image.Image, f: float, rng: np.random.Generator) -> Image.Image:
    addition = int(110.0 * f)
    if addition == 0:
        return img
    pixels = np.asarray(img)
    added = np.minimum(pixels.astype(np.int16) + addition, 255).astype(np.uint8)
    return Image.fromarray(np.where(pixels < 128, added, pixels), img.mode)


_OPS: dict[str, Op] = {
    "AutoContrast": _autocontrast,
    "Equalize": _equalize,
    "Rotate": _rotate,
    "Solarize": _solarize,
    "Color": _enhance(ImageEnhance.Color),
    "Posterize": _posterize,
    "Contrast": _enhance(ImageEnhance.Contrast),
    "Brightness": _enhance(ImageEnhance.Brightness),
    "Sharpness": _enhance(ImageEnhance.Sharpness),
    "ShearX": _shear_x,
    "ShearY": _shear_y,
    "TranslateX": _translate_x,
    "TranslateY": _translate_y,
}
assert tuple(_OPS) == RANDAUG_OPS
# every op by name, RandAugment's and AutoAugment's extra two; ``OPS[name](img, magnitude / 10, rng)``
OPS: Mapping[str, Op] = MappingProxyType({**_OPS, "Invert": _invert, "SolarizeAdd": _solarize_add})


def apply_op(img: Image.Image, name: str, magnitude: float, rng: np.random.Generator) -> Image.Image:
    """One RandAugment op at ``magnitude`` (automl scale, see the module docstring)."""
    if name not in _OPS:
        raise ValueError(f"unknown RandAugment op {name!r}; known: {', '.join(RANDAUG_OPS)}")
    _check_magnitude(magnitude)
    return _OPS[name](img, magnitude / MAX_LEVEL, rng)


def rand_augment(img: Image.Image, num_ops: int, magnitude: float, rng: np.random.Generator) -> Image.Image:
    """RandAugment (Cubuk et al. 2020): ``num_ops`` uniformly drawn ops, each at ``magnitude``.

    Each op is always applied (as AUTOML-V2 ``distort_image_with_randaugment`` and torchvision do);
    ``magnitude`` 0 or ``num_ops`` 0 returns ``img`` itself.
    """
    _check_magnitude(magnitude)
    if num_ops < 0:
        raise ValueError(f"num_ops must be >= 0, got {num_ops}")
    if num_ops == 0 or magnitude == 0:
        return img
    f = magnitude / MAX_LEVEL
    for _ in range(num_ops):
        img = _OPS[RANDAUG_OPS[int(rng.integers(len(RANDAUG_OPS)))]](img, f, rng)
    return img


def _check_magnitude(magnitude: float) -> None:
    if not 0.0 <= magnitude <= MAX_MAGNITUDE:
        raise ValueError(f"RandAugment magnitude must be in [0, {MAX_MAGNITUDE:g}], got {magnitude}")


# --- labels ---------------------------------------------------------------------------------------


def soft_labels(labels: np.ndarray, num_classes: int, smoothing: float = 0.0) -> np.ndarray:
    """(B, num_classes) float32: ``one_hot * (1 - smoothing) + smoothing / num_classes``."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got min {labels.min()} max {labels.max()}")
    y = np.full((labels.size, num_classes), smoothing / num_classes, dtype=np.float32)
    y[np.arange(labels.size), labels] += np.float32(1.0 - smoothing)
    return y


def mixup(
    x: np.ndarray, y_soft: np.ndarray, alpha: float, rng: np.random.Generator, *, lam: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Batch-level mixup: ``(lam * x + (1 - lam) * x[perm], same for y_soft, lam)``.

    ``lam ~ Beta(alpha, alpha)`` from ``rng`` unless given; ``perm`` is ``rng.permutation(len(x))``.
    ``alpha`` 0 returns the inputs unmixed with ``lam`` 1.0 and draws nothing from ``rng``. Rows of
    a soft-label ``y_soft`` that sum to 1 still sum to 1.
    """
    if alpha < 0:
        raise ValueError(f"mixup alpha must be >= 0, got {alpha}")
    if len(x) != len(y_soft):
        raise ValueError(f"x and y_soft differ in batch size: {len(x)} vs {len(y_soft)}")
    if alpha == 0 or len(x) == 0:
        return x, y_soft, 1.0
    lam = float(rng.beta(alpha, alpha)) if lam is None else float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"mixup lam must be in [0, 1], got {lam}")
    perm = rng.permutation(len(x))
    return _mix(x, lam, perm), _mix(y_soft, lam, perm), lam


def _mix(a: np.ndarray, lam: float, perm: np.ndarray) -> np.ndarray:
    out = a * np.asarray(lam, dtype=a.dtype)
    out += a[perm] * np.asarray(1.0 - lam, dtype=a.dtype)
    return out
