"""The arms of the progressive-learning ablation (EfficientNetV2 paper §4, Tables 7-8), as stages.

Every arm is derived from one spec schedule (``spec.schedule(model, rule, epochs)``), so arms of
the same rule share epochs, sizes and regularisation endpoints:

- ``fixed-small``: one stage, the first stage's image size, the last stage's regularisation;
- ``fixed-large``: one stage, the last stage's image size (the usual non-progressive baseline), the
  last stage's regularisation;
- ``progressive-fixed-reg``: the schedule's sizes, every stage at the last stage's regularisation
  (progressive resizing alone, the paper's Table 8 "without adaptive regularisation");
- ``progressive-adaptive``: the schedule itself (paper Algorithm 1: size and regularisation grow
  together).

"Regularisation" is everything a stage sets besides its size: augmentation policy and RandAugment
magnitude, mixup and CutMix alphas, dropout. :func:`plan` builds the arms for several rules and
merges arms whose stages are identical across rules (e.g. the code rule's fixed dropout makes some
V2 arms coincide), so each distinct run happens once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from effnet import spec
from effnet.spec import Stage

ARMS: tuple[str, ...] = ("fixed-small", "fixed-large", "progressive-fixed-reg", "progressive-adaptive")


@dataclass(frozen=True)
class Arm:
    name: str  # e.g. "fixed-small.paper" or "fixed-large.paper+code"
    kind: str  # one of ARMS
    rules: tuple[str, ...]
    stages: tuple[Stage, ...]


def arm_stages(
    model: str, rule: str, kind: str, epochs: int, file: Path | str | None = None
) -> tuple[Stage, ...]:
    """The stages of arm ``kind`` (one of :data:`ARMS`) derived from ``model``'s ``rule`` schedule."""
    if kind not in ARMS:
        raise ValueError(f"unknown arm {kind!r}; known: {', '.join(ARMS)}")
    schedule = spec.schedule(model, rule, epochs=epochs, file=file)  # type: ignore[arg-type]
    first, last = schedule[0], schedule[-1]
    if kind == "progressive-adaptive":
        return schedule
    if kind == "progressive-fixed-reg":
        return tuple(
            replace(
                last, index=s.index, epoch_start=s.epoch_start, epoch_end=s.epoch_end, image_size=s.image_size
            )
            for s in schedule
        )
    size = first.image_size if kind == "fixed-small" else last.image_size
    return (replace(last, index=0, epoch_start=0, epoch_end=epochs, image_size=size),)


def plan(
    model: str,
    epochs: int,
    rules: tuple[str, ...] = ("paper", "code"),
    kinds: tuple[str, ...] = ARMS,
    file: Path | str | None = None,
) -> list[Arm]:
    """The distinct arms, in ``kinds`` order then ``rules`` order; identical stages run once."""
    arms: list[Arm] = []
    for kind in kinds:
        seen: dict[tuple[Stage, ...], list[str]] = {}
        for rule in rules:
            seen.setdefault(arm_stages(model, rule, kind, epochs, file), []).append(rule)
        for stages, arm_rules in seen.items():
            arms.append(Arm(f"{kind}.{'+'.join(arm_rules)}", kind, tuple(arm_rules), stages))
    return arms
