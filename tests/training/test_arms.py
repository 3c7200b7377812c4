"""The ablation's arms are derived from one schedule: sizes and regularisation as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from effnet import spec
from effnet.training.arms import ARMS, arm_stages, plan

from .tiny_schedules import write_tiny_spec


def test_arms_of_the_v2_b0_paper_schedule() -> None:
    full = spec.schedule("efficientnetv2-b0", "paper", epochs=8)
    small, large, fixed_reg, adaptive = (arm_stages("efficientnetv2-b0", "paper", k, 8) for k in ARMS)
    assert adaptive == full
    assert [s.image_size for s in fixed_reg] == [s.image_size for s in full]
    assert {(s.randaug_magnitude, s.dropout) for s in fixed_reg} == {
        (full[-1].randaug_magnitude, full[-1].dropout)
    }
    for arm, size in ((small, full[0].image_size), (large, full[-1].image_size)):
        (stage,) = arm
        assert (stage.epoch_start, stage.epoch_end, stage.image_size) == (0, 8, size)
        assert (stage.randaug_magnitude, stage.dropout, stage.augment) == (15.0, 0.3, "randaugment")
    with pytest.raises(ValueError, match="unknown arm"):
        arm_stages("efficientnetv2-b0", "paper", "fixed-medium", 8)


def test_plan_runs_identical_arms_once(tmp_path: Path) -> None:
    arms = plan("efficientnetv2-b0", 8)
    assert len(arms) == 8 and {a.rules for a in arms} == {("paper",), ("code",)}  # B0: the rules differ
    code_small = next(a for a in arms if a.name == "fixed-small.code")
    assert code_small.stages[0].image_size == 144 and code_small.stages[0].augment == "autoaugment"
    v1 = plan("efficientnet-b0", 2)  # V1: one stage, the same under both rules
    assert [a.name for a in v1] == [f"{kind}.paper+code" for kind in ARMS]
    tiny = plan("tiny-net", 2, kinds=("fixed-large",), file=write_tiny_spec(tmp_path / "tiny.yaml"))
    assert [a.name for a in tiny] == ["fixed-large.paper", "fixed-large.code"]
