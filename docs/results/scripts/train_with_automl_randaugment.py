"""A diagnostic behind one figure of ``docs/results/progressive-paper-schedule-4-epochs.md``, not part of
the package: ``effnet train`` with RandAugment as google/automl's code maps magnitudes instead of
``training/augment.py``'s monotonic scale. Usage: the arguments of ``effnet train``.

What differs from ``training.augment.rand_augment`` (google/automl@2fb46e72786baaa57cb39233321a66c64fa8bcf3
efficientnetv2/autoaugment.py, ``level_to_arg`` and ``distort_image_with_randaugment``; ``f`` is the
magnitude / 10):

- 16 ops, not 13: automl also draws Invert, Cutout (a square of side ``2 int(40 f)`` around a random
  pixel, grey) and SolarizeAdd;
- Color, Contrast, Brightness, Sharpness: factor ``1.8 f + 0.1`` (no change at magnitude 5);
- Posterize keeps ``int(4 f)`` bits; Solarize inverts pixels at or above ``int(256 f)`` (nothing
  above magnitude 10);
- TranslateX/Y shift by ``100 f`` pixels, whatever the image size.

Rotate, Shear, AutoContrast, Equalize, Invert and SolarizeAdd are ``training.augment``'s own ops, whose
parameters already equal automl's.
"""

import sys

import numpy as np
from PIL import Image, ImageEnhance

from effnet.cli.main import main
from effnet.training import augment, pipeline

GREY = augment.FILL


def _signed(value: float, rng: np.random.Generator) -> float:
    return -value if rng.random() < 0.5 else value


def _enhance(kind):
    return lambda img, f, rng: kind(img).enhance(1.8 * f + 0.1)


def _posterize(img, f, rng):
    shift = 8 - int(4 * f)
    pixels = np.asarray(img).astype(np.uint16)
    return Image.fromarray(((pixels >> shift) << shift).astype(np.uint8), img.mode)


def _solarize(img, f, rng):
    threshold = int(256 * f)
    pixels = np.asarray(img)
    return Image.fromarray(np.where(pixels < threshold, pixels, 255 - pixels).astype(np.uint8), img.mode)


def _translate(axis: str):
    def op(img, f, rng):
        shift = _signed(100.0 * f, rng)
        coeffs = (1, 0, shift, 0, 1, 0) if axis == "x" else (1, 0, 0, 0, 1, shift)
        return img.transform(img.size, Image.Transform.AFFINE, coeffs, augment.RESAMPLE, fillcolor=GREY)

    return op


def _cutout(img, f, rng):
    pad = int(40 * f)
    pixels = np.array(img)
    h, w = pixels.shape[:2]
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    pixels[max(0, cy - pad) : min(h, cy + pad), max(0, cx - pad) : min(w, cx + pad)] = GREY
    return Image.fromarray(pixels, img.mode)


OURS = augment.OPS
AUTOML_OPS = {
    "AutoContrast": OURS["AutoContrast"],
    "Equalize": OURS["Equalize"],
    "Invert": OURS["Invert"],
    "Rotate": OURS["Rotate"],
    "Posterize": _posterize,
    "Solarize": _solarize,
    "Color": _enhance(ImageEnhance.Color),
    "Contrast": _enhance(ImageEnhance.Contrast),
    "Brightness": _enhance(ImageEnhance.Brightness),
    "Sharpness": _enhance(ImageEnhance.Sharpness),
    "ShearX": OURS["ShearX"],
    "ShearY": OURS["ShearY"],
    "TranslateX": _translate("x"),
    "TranslateY": _translate("y"),
    "Cutout": _cutout,
    "SolarizeAdd": OURS["SolarizeAdd"],
}
NAMES = tuple(AUTOML_OPS)


def rand_augment_as_automl(img, num_ops, magnitude, rng):
    """``num_ops`` ops drawn uniformly from automl's 16, each always applied at ``magnitude``."""
    f = magnitude / augment.MAX_LEVEL
    for _ in range(num_ops):
        img = AUTOML_OPS[NAMES[int(rng.integers(len(NAMES)))]](img, f, rng)
    return img


if __name__ == "__main__":
    pipeline.rand_augment = rand_augment_as_automl  # the name the pipeline calls
    sys.exit(main(["train", *sys.argv[1:]]))
