"""The training recipe from the spec's cited ``training:`` section, scaled to a run.

- Learning rate: ``lr_per_256 * batch / 256`` (AUTOML-V2 ``lr_base`` is per 256 images); linear
  warm-up, then exponential decay ``decay_rate ** floor(epoch / decay_epochs)`` (staircase, as the
  automl code's ``exponential_decay``). A run of E epochs scales the recipe's time constants (warm-up,
  decay period) by E / recipe.epochs, exactly as the progressive-learning stages scale with E, so a
  short run follows the shape of the full 350-epoch run.
- EMA of weights with decay ``min(ema_decay, (1 + step) / (10 + step))`` (TF
  ``ExponentialMovingAverage(num_updates=step)``, used by the automl trainer), so short runs have a
  meaningful average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import SpecError
from .resolve import FamilySource, family_of


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    optimizer: str
    rmsprop_decay: float
    momentum: float
    epsilon: float
    lr_per_256: float  # the peak learning rate per 256 images (the spec's or --lr-per-256)
    peak_lr: float
    warmup_epochs: float
    decay_rate: float
    decay_epochs: float
    weight_decay: float
    label_smoothing: float
    ema_decay: float
    randaug_layers: int
    cite: str
    init: str = "fan_in"  # spec.init scheme the trainer starts from

    def lr_at(self, epoch: float) -> float:
        """Learning rate at a (fractional) epoch of this run."""
        if epoch < self.warmup_epochs:
            return self.peak_lr * epoch / self.warmup_epochs
        return self.peak_lr * self.decay_rate ** math.floor(epoch / self.decay_epochs)

    def ema_decay_at(self, step: int) -> float:
        return min(self.ema_decay, (1.0 + step) / (10.0 + step))


def recipe(
    name: str,
    *,
    batch_size: int,
    epochs: int | None = None,
    lr_per_256: float | None = None,
    init: str = "fan_in",
    file: FamilySource = None,
) -> Recipe:
    """The recipe of model ``name``'s family, scaled to ``batch_size`` and ``epochs``.

    ``lr_per_256`` overrides the spec's peak learning rate per 256 images (``--lr-per-256``), as
    ``--lr`` does in the torchvision and timm training scripts: the 350-epoch recipe's peak, reached
    after a warm-up of a few steps when scaled to a short run, is too high for a from-scratch model
    that trains for minutes (see README, Training). ``init`` names the ``spec.init`` scheme of the
    starting weights (``--init``)."""
    fam = family_of(name, file)
    t: dict[str, Any] = fam.data.get("training")
    if t is None:
        raise SpecError(f"{fam.path} has no training section for {name!r}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if lr_per_256 is not None and not (math.isfinite(lr_per_256) and lr_per_256 > 0):
        raise ValueError(f"lr_per_256 must be a finite number > 0, got {lr_per_256}")
    per_256 = t["lr"]["per_256_images"] if lr_per_256 is None else lr_per_256
    run_epochs = epochs if epochs is not None else t["epochs"]  # (0 is refused, never "the recipe's")
    scale = run_epochs / t["epochs"]
    opt = t["optimizer"]
    return Recipe(
        epochs=run_epochs,
        batch_size=batch_size,
        optimizer=opt["name"],
        rmsprop_decay=opt.get("decay", 0.9),
        momentum=opt.get("momentum", 0.0),
        epsilon=opt.get("epsilon", 1e-3),
        lr_per_256=per_256,
        peak_lr=per_256 * batch_size / 256,
        warmup_epochs=t["lr"]["warmup_epochs"] * scale,
        decay_rate=t["lr"]["decay_rate"],
        decay_epochs=t["lr"]["decay_epochs"] * scale,
        weight_decay=t["weight_decay"],
        label_smoothing=t["label_smoothing"],
        ema_decay=t["ema_decay"],
        randaug_layers=t["randaug_layers"],
        cite=t["cite"],
        init=init,
    )
