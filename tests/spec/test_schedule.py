"""Progressive-learning schedules: cited endpoints, monotonicity, epoch partition, both rules."""

import pytest

from effnet import spec

V2 = [n for n in spec.names() if n.startswith("efficientnetv2")]


@pytest.mark.parametrize(
    "name, sizes",
    [
        # SOURCES §5.2: int(128 + (train - 128) * k/4), k = 1..4
        ("efficientnetv2-s", [171, 214, 257, 300]),
        ("efficientnetv2-m", [192, 256, 320, 384]),
        ("efficientnetv2-l", [192, 256, 320, 384]),
        ("efficientnetv2-xl", [192, 256, 320, 384]),
        ("efficientnetv2-b0", [144, 160, 176, 192]),
        ("efficientnetv2-b1", [144, 160, 176, 192]),
        ("efficientnetv2-b2", [148, 168, 188, 208]),
        ("efficientnetv2-b3", [156, 184, 212, 240]),
    ],
)
def test_code_rule_sizes(name, sizes):
    assert [s.image_size for s in spec.schedule(name, "code")] == sizes


def test_code_rule_regularisation_and_fixed_dropout():
    m = spec.schedule("efficientnetv2-m", "code")
    assert [round(s.randaug_magnitude, 2) for s in m] == [5, 8.33, 11.67, 15]
    assert [round(s.mixup_alpha, 3) for s in m] == [0, 0.067, 0.133, 0.2]
    assert {s.dropout for s in m} == {0.3}
    assert [round(s.mixup_alpha, 3) for s in spec.schedule("efficientnetv2-l", "code")] == [
        0,
        0.167,
        0.333,
        0.5,
    ]


@pytest.mark.parametrize("name", V2)
def test_code_rule_augment_and_cutmix(name):
    """automl: B0-B3 use AutoAugment v0, S/M/L/XL RandAugment; cutmix alpha follows mixup's schedule."""
    code = spec.schedule(name, "code")
    expected = "autoaugment" if name[-2] == "b" else "randaugment"
    assert {s.augment for s in code} == {expected}
    assert [s.cutmix_alpha for s in code] == [s.mixup_alpha for s in code]
    paper = spec.schedule(name, "paper")  # Table 6: RandAugment and mixup only
    assert {s.augment for s in paper} == {"randaugment"} and {s.cutmix_alpha for s in paper} == {0.0}


def test_v1_trains_with_autoaugment():
    for rule in spec.progressive.RULES:
        (stage,) = spec.schedule("efficientnet-b0", rule)
        assert stage.augment == "autoaugment" and stage.cutmix_alpha == 0.0


@pytest.mark.parametrize(
    "name, size, ram, mixup, dropout",
    [
        ("efficientnetv2-s", (128, 300), (5, 15), (0, 0), (0.1, 0.3)),  # paper Table 6
        ("efficientnetv2-m", (128, 380), (5, 20), (0, 0.2), (0.1, 0.4)),
        ("efficientnetv2-l", (128, 380), (5, 25), (0, 0.4), (0.1, 0.5)),
    ],
)
def test_paper_rule_endpoints(name, size, ram, mixup, dropout):
    st = spec.schedule(name)  # paper is the default
    first, last = st[0], st[-1]
    assert (first.image_size, last.image_size) == size
    assert (first.randaug_magnitude, last.randaug_magnitude) == ram
    assert (first.mixup_alpha, last.mixup_alpha) == pytest.approx(mixup)
    assert (first.dropout, last.dropout) == pytest.approx(dropout)


def test_paper_rule_interpolates_i_over_m_minus_1():
    assert [s.image_size for s in spec.schedule("efficientnetv2-s")] == [128, 185, 242, 300]


@pytest.mark.parametrize("rule", ["paper", "code"])
@pytest.mark.parametrize("name", V2)
def test_monotone_and_partition(name, rule):
    for epochs in (4, 10, 350, 351):
        st = spec.schedule(name, rule, epochs=epochs)
        assert len(st) == 4
        assert st[0].epoch_start == 0 and st[-1].epoch_end == epochs
        for a, b in zip(st, st[1:], strict=False):
            assert a.epoch_end == b.epoch_start and a.epoch_start < a.epoch_end
            for field in ("image_size", "randaug_magnitude", "mixup_alpha", "dropout"):
                assert getattr(a, field) <= getattr(b, field), field
    assert spec.schedule(name, rule)[-1].epoch_end == 350  # training.epochs in the spec


def test_size_multiple_rounds_down():
    assert [s.image_size for s in spec.schedule("efficientnetv2-s", size_multiple=32)] == [128, 160, 224, 288]


def test_v1_is_a_single_stage_at_its_size():
    (stage,) = spec.schedule("efficientnet-b2")
    assert (stage.image_size, stage.dropout, stage.epoch_start, stage.epoch_end) == (260, 0.3, 0, 350)


def test_schedule_errors():
    with pytest.raises(spec.SpecError, match="unknown schedule rule 'fast'"):
        spec.schedule("efficientnetv2-s", "fast")
    with pytest.raises(spec.SpecError, match="cannot hold"):
        spec.schedule("efficientnetv2-s", epochs=3)
    with pytest.raises(spec.SpecError, match="unknown model"):
        spec.schedule("resnet50")
