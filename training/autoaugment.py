"""AutoAugment policy v0 (Cubuk et al. 2019), as google/automl trains EfficientNet V1 and V2-B0..B3.

AUTOML-V2 below is google/automl@6a54c8741e7c:efficientnetv2/autoaugment.py. The policy is 25
sub-policies of two ops, each op ``(name, probability, magnitude)`` (:data:`POLICY_V0`, AUTOML-V2
lines 39-63, in the same order). Per image, one sub-policy is drawn uniformly (line 573) and its two
ops are applied in order, each with its own probability (lines 562-567, 621-623). The ops are those
of :mod:`training.augment` (``augment.OPS``), at ``f = magnitude / 10`` (``_MAX_LEVEL``, line 30).

The magnitudes are read on the scale :mod:`training.augment` documents for RandAugment, so the same
number means the same distortion under both policies. Where that scale differs from AUTOML-V2's
``level_to_arg`` (lines 471-524, with ``translate_const=250`` for AutoAugment at line 658), policy
v0 as run here differs from automl's; at the magnitudes policy v0 uses:

- Color (magnitudes 0, 1, 4, 6, 7, 9): automl's factor is ``1.8 f + 0.1``, never negated (0 -> 0.1,
  nearly grey; 9 -> 1.72); here ``1 +- 0.9 f`` with a random sign (0 -> 1, the identity; 9 -> 1.81
  or 0.19).
- Solarize (2, 3, 4, 8, 10): automl inverts values ``>= int(25.6 m)`` (2 -> values >= 51; 10 ->
  none, the identity); here values ``>= 256 - int(25.6 m)`` (2 -> >= 205; 10 -> all).
- Posterize (2, 6): automl keeps ``int(0.4 m)`` bits (2 -> 0 bits, a black image; 6 -> 2 bits); here
  ``max(4, 8 - int(0.4 m))`` (2 -> 8 bits, the identity; 6 -> 6 bits).
- TranslateY (9): automl shifts by +-``25 m`` px (+-225 px whatever the image size); here by
  +-``0.045 m`` of the side (+-0.405 of it).
- Rotate (0, 2, 5, 7, 8, 9), ShearX/Y (0, 3, 4, 7, 9): the same parameter (+-3 m degrees, +-0.03 m),
  resampled bilinearly here, nearest-neighbour in automl (tensorflow_addons' default).
- SolarizeAdd (3, 7): the same (add ``int(11 m)`` to values below 128).
- Equalize, AutoContrast, Invert (no magnitude): Pillow's ``ImageOps``, which automl re-implements.

So Solarize and Posterize run in the opposite direction of automl's (a larger number is a stronger
distortion here, a weaker one there): the policy keeps automl's numbers, which were searched on
automl's scale. Geometric ops fill with grey (128, 128, 128), automl's ``replace_value`` (line 600).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .augment import MAX_LEVEL, OPS

SubPolicy = tuple[tuple[str, float, int], tuple[str, float, int]]

# AUTOML-V2 autoaugment.py:39-63, one line each, in order
POLICY_V0: tuple[SubPolicy, ...] = (
    (("Equalize", 0.8, 1), ("ShearY", 0.8, 4)),
    (("Color", 0.4, 9), ("Equalize", 0.6, 3)),
    (("Color", 0.4, 1), ("Rotate", 0.6, 8)),
    (("Solarize", 0.8, 3), ("Equalize", 0.4, 7)),
    (("Solarize", 0.4, 2), ("Solarize", 0.6, 2)),
    (("Color", 0.2, 0), ("Equalize", 0.8, 8)),
    (("Equalize", 0.4, 8), ("SolarizeAdd", 0.8, 3)),
    (("ShearX", 0.2, 9), ("Rotate", 0.6, 8)),
    (("Color", 0.6, 1), ("Equalize", 1.0, 2)),
    (("Invert", 0.4, 9), ("Rotate", 0.6, 0)),
    (("Equalize", 1.0, 9), ("ShearY", 0.6, 3)),
    (("Color", 0.4, 7), ("Equalize", 0.6, 0)),
    (("Posterize", 0.4, 6), ("AutoContrast", 0.4, 7)),
    (("Solarize", 0.6, 8), ("Color", 0.6, 9)),
    (("Solarize", 0.2, 4), ("Rotate", 0.8, 9)),
    (("Rotate", 1.0, 7), ("TranslateY", 0.8, 9)),
    (("ShearX", 0.0, 0), ("Solarize", 0.8, 4)),
    (("ShearY", 0.8, 0), ("Color", 0.6, 4)),
    (("Color", 1.0, 0), ("Rotate", 0.6, 2)),
    (("Equalize", 0.8, 4), ("Equalize", 0.0, 8)),
    (("Equalize", 1.0, 4), ("AutoContrast", 0.6, 2)),
    (("ShearY", 0.4, 7), ("SolarizeAdd", 0.6, 7)),
    (("Posterize", 0.8, 2), ("Solarize", 0.6, 10)),
    (("Solarize", 0.6, 8), ("Equalize", 0.6, 1)),
    (("Color", 0.8, 6), ("Rotate", 0.4, 5)),
)


def apply_sub_policy(img: Image.Image, sub_policy: SubPolicy, rng: np.random.Generator) -> Image.Image:
    """Each op of ``sub_policy`` in order, each with its probability (one ``rng.random()`` per op)."""
    for name, probability, magnitude in sub_policy:
        if rng.random() < probability:
            img = OPS[name](img, magnitude / MAX_LEVEL, rng)
    return img


def auto_augment(
    img: Image.Image, rng: np.random.Generator, policy: tuple[SubPolicy, ...] = POLICY_V0
) -> Image.Image:
    """One uniformly drawn sub-policy of ``policy`` applied to ``img``."""
    return apply_sub_policy(img, policy[int(rng.integers(len(policy)))], rng)
