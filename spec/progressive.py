"""Progressive learning (EfficientNetV2 §4.2): a pure function from (model, rule) to stages.

Both rules are data in the family files (``schedules.paper`` / ``schedules.code``, cited there);
this module only interpolates. For stage i of M over E epochs:

- epochs ``[int(i/M * E), int((i+1)/M * E))`` (AUTOML-V2 main_tf2.py; the paper's ~87 epochs each);
- regularisers (RandAugment magnitude, mixup alpha, cutmix alpha, dropout): ``lo + (hi - lo) * i/(M-1)``
  (paper Algorithm 1; the code's ``np.linspace``);
- augmentation policy (``augment``): ``randaugment`` (at the stage's magnitude) or ``autoaugment``
  (policy v0, which takes no magnitude), the same for every stage; an endpoint without one means
  ``randaugment``, one without ``cutmix_alpha`` means no cutmix;
- image size: ``size_positions: from_min`` -> ``lo + (hi - lo) * i/(M-1)`` (paper), ``after_min`` ->
  ``int(lo + (hi - lo) * (i+1)/M)`` (code: the first stage is already above the minimum).

Image sizes are truncated to an integer as the code does (``int``), then, if ``size_multiple`` > 1,
rounded down to a multiple of it. The default ``size_multiple`` is 1: the cited sizes exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from .errors import SpecError
from .resolve import FamilySource, family_of, model_config

Rule = Literal["paper", "code"]
RULES: tuple[Rule, ...] = ("paper", "code")
AUGMENTS: tuple[str, ...] = ("randaugment", "autoaugment")


@dataclass(frozen=True)
class Stage:
    index: int
    epoch_start: int  # inclusive
    epoch_end: int  # exclusive
    image_size: int
    randaug_magnitude: float
    mixup_alpha: float
    dropout: float
    augment: str = "randaugment"  # one of AUGMENTS
    cutmix_alpha: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def schedule(
    name: str,
    rule: Rule = "paper",
    *,
    epochs: int | None = None,
    size_multiple: int = 1,
    file: FamilySource = None,
) -> tuple[Stage, ...]:
    """The progressive-learning stages of model ``name`` under ``rule`` ("paper" or "code")."""
    if rule not in RULES:
        raise SpecError(f"unknown schedule rule {rule!r}; known rules: {', '.join(RULES)}")
    if size_multiple < 1:
        raise SpecError(f"size_multiple must be >= 1, got {size_multiple}")
    fam = family_of(name, file)
    rules = fam.data.get("schedules", {})
    if rule not in rules:
        raise SpecError(f"model {name!r} has no {rule!r} schedule in {fam.path}")
    sched = rules[rule]
    ends = sched["endpoints"].get(name, sched["endpoints"].get("all"))
    if ends is None:
        raise SpecError(f"the {rule!r} schedule in {fam.path} has no endpoints for {name!r}")
    epochs = epochs if epochs is not None else fam.data.get("training", {}).get("epochs", 350)
    if epochs < sched["stages"]:
        raise SpecError(f"{epochs} epochs cannot hold {sched['stages']} stages")
    config = model_config(name, file=file)
    symbols = {"train": config["image_size"]["train"], "model": config["dropout"]}

    def value(x: float | str) -> float:
        return float(symbols[x]) if isinstance(x, str) else float(x)

    m = sched["stages"]
    stages = []
    for i in range(m):
        t = i / (m - 1) if m > 1 else 0.0
        t_size = t if sched["size_positions"] == "from_min" else (i + 1) / m
        lo, hi = (value(v) for v in ends["image_size"])
        size = int(lo + (hi - lo) * t_size)
        size -= size % size_multiple
        stages.append(
            Stage(
                index=i,
                epoch_start=int(i / m * epochs),
                epoch_end=int((i + 1) / m * epochs),
                image_size=size,
                randaug_magnitude=_lerp(ends["randaug_magnitude"], t, value),
                mixup_alpha=_lerp(ends["mixup_alpha"], t, value),
                dropout=_lerp(ends["dropout"], t, value),
                augment=ends.get("augment", "randaugment"),
                cutmix_alpha=_lerp(ends.get("cutmix_alpha", [0, 0]), t, value),
            )
        )
    return tuple(stages)


def _lerp(pair: list[Any], t: float, value: Any) -> float:
    lo, hi = value(pair[0]), value(pair[1])
    return round(lo + (hi - lo) * t, 10)


def citation(name: str, rule: Rule = "paper", file: FamilySource = None) -> str:
    fam = family_of(name, file)
    sched = fam.data["schedules"][rule]
    ends = sched["endpoints"].get(name, sched["endpoints"].get("all"))
    return f"{sched['cite']}; {ends['cite']}"
