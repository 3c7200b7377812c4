"""Exact trainable-parameter and BN-statistic counts (SOURCES §4.1) and MACs vs timm GMACs (SOURCES §4.2)."""

import pytest

from effnet import spec

# model: (trainable params, BN-statistic scalars, timm infer_gmacs at native eval size)
REFERENCE = {
    "efficientnet-b0": (5_288_548, 42_016, 0.40),
    "efficientnet-b1": (7_794_184, 62_048, 0.71),
    "efficientnet-b2": (9_109_994, 67_568, 1.02),
    "efficientnet-b3": (12_233_232, 87_296, 1.87),
    "efficientnet-b4": (19_341_616, 125_200, 4.49),
    "efficientnet-b5": (30_389_784, 172_736, 10.46),
    "efficientnet-b6": (43_040_704, 224_432, 19.40),
    "efficientnet-b7": (66_347_960, 310_720, 38.33),
    "efficientnetv2-b0": (7_139_704, 60_608, 0.73),
    "efficientnetv2-b1": (8_141_052, 71_072, 1.21),
    "efficientnetv2-b2": (10_096_086, 82_288, 1.72),
    "efficientnetv2-b3": (14_358_406, 109_216, 3.04),
    "efficientnetv2-s": (21_458_488, 153_872, 8.44),
    "efficientnetv2-m": (54_139_356, 292_032, 24.76),
    "efficientnetv2-l": (118_515_272, 512_576, 56.40),
    "efficientnetv2-xl": (208_119_808, 777_024, 93.85),
}
MACS_TOLERANCE = 0.02  # the bound; timm's figures are rounded to 2 decimals (1.25% at B0)


@pytest.mark.parametrize("name", REFERENCE)
def test_trainable_params_exact(name):
    assert spec.count(spec.resolve(name)).params == REFERENCE[name][0]


@pytest.mark.parametrize("name", REFERENCE)
def test_bn_stat_scalars_exact(name):
    assert spec.count(spec.resolve(name)).bn_stats == REFERENCE[name][1]


@pytest.mark.parametrize("name", REFERENCE)
def test_macs_within_2_percent_of_timm(name):
    ms = spec.resolve(name)
    gmacs = spec.macs(ms, ms.image_size.eval) / 1e9
    assert abs(gmacs / REFERENCE[name][2] - 1) <= MACS_TOLERANCE


def test_counts_do_not_depend_on_profile():
    for profile in ("torchvision", "timm_tf", "keras"):
        assert spec.count(spec.resolve("efficientnet-b0", profile=profile)).params == 5_288_548


def test_b3_rounding_differs_between_v1_and_v2():
    # SOURCES §2.2: width 1.2 on base 16: V1's 10% rule gives 24, V2 keeps 16.
    assert spec.resolve("efficientnet-b3").blocks[0].out_channels == 24
    assert spec.resolve("efficientnetv2-b3").blocks[0].out_channels == 16
    with_rule = spec.resolve(
        "efficientnetv2-b3", rounding={"divisor": 8, "min_channels": 8, "ten_percent_rule": True}
    )
    assert spec.count(with_rule).params == 14_377_062  # SOURCES §2.2 sanity value


def test_macs_scale_with_image_size_and_include_top():
    ms = spec.resolve("efficientnetv2-s")
    assert spec.macs(ms, 384) > spec.macs(ms, 300) > spec.macs(ms, 128)
    assert spec.macs(ms, 300) - spec.macs(ms, 300, include_top=False) == 1280 * 1000
    assert spec.counts.conv_macs(ms, 300) < spec.macs(ms, 300)
