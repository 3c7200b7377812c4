"""AutoAugment policy v0 and each of its ops against its definition: a fixed image, a fixed parameter,
the expected pixels computed here from the op's formula (``training.augment``'s scale)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from effnet.training.augment import OPS
from effnet.training.autoaugment import POLICY_V0, apply_sub_policy, auto_augment

GREY = 128


class Fixed:
    """A stand-in generator: ``random()`` always returns ``u`` (``u >= 0.5``: the positive sign)."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


def _pixels(h: int = 24, w: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _op(name: str, pixels: np.ndarray, f: float, u: float = 0.9) -> np.ndarray:
    return np.asarray(OPS[name](Image.fromarray(pixels), f, Fixed(u)))


def test_invert() -> None:
    x = _pixels()
    assert np.array_equal(_op("Invert", x, 0.9), 255 - x)


def test_solarize_add_adds_int_110_f_below_128() -> None:
    x = _pixels()
    expected = np.where(x < 128, np.minimum(x.astype(int) + 33, 255), x)  # magnitude 3: int(110 * 0.3)
    assert np.array_equal(_op("SolarizeAdd", x, 0.3), expected)
    assert np.array_equal(_op("SolarizeAdd", x, 0.0), x)


def test_solarize_inverts_from_256_minus_int_256_f() -> None:
    x = _pixels()
    expected = np.where(x >= 52, 255 - x, x)  # magnitude 8: 256 - int(204.8)
    assert np.array_equal(_op("Solarize", x, 0.8), expected)


def test_posterize_keeps_8_minus_int_4_f_bits() -> None:
    x = _pixels()
    assert np.array_equal(_op("Posterize", x, 0.6), x & 0b11111100)  # magnitude 6: keep 6 bits
    assert np.array_equal(_op("Posterize", x, 0.2), x)  # magnitude 2: keep 8 bits


@pytest.mark.parametrize("u, factor", [(0.9, 1.81), (0.1, 0.19)])
def test_color_blends_with_grey_by_1_plus_minus_0_9_f(u: float, factor: float) -> None:
    x = _pixels()
    r, g, b = (x[..., c].astype(np.int64) for c in range(3))
    grey = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)[..., None]  # Pillow's L (ITU-R 601-2)
    blended = grey + factor * (x.astype(np.float64) - grey)
    expected = np.clip(np.trunc(blended), 0, 255)  # Pillow truncates the blend
    assert np.array_equal(_op("Color", x, 0.9, u), expected)  # magnitude 9


def test_equalize_is_the_cumulative_histogram_lut() -> None:
    x = _pixels(seed=1) // 3 + 40  # a narrow range, so equalizing changes it
    expected = np.empty_like(x)
    for c in range(3):
        hist = np.bincount(x[..., c].ravel(), minlength=256)
        step = (hist.sum() - hist[np.nonzero(hist)[0][-1]]) // 255
        lut = np.concatenate([[0], (np.cumsum(hist)[:-1] + step // 2) // step])
        expected[..., c] = np.clip(lut, 0, 255)[x[..., c]]
    assert np.array_equal(_op("Equalize", x, 0.0), expected)


def test_autocontrast_stretches_each_channel_to_0_255() -> None:
    x = _pixels(seed=2) // 2 + 30
    expected = np.empty_like(x)
    for c in range(3):
        lo, hi = int(x[..., c].min()), int(x[..., c].max())
        scale = 255.0 / (hi - lo)
        lut = np.clip([int(v * scale - lo * scale) for v in range(256)], 0, 255)
        expected[..., c] = lut[x[..., c]]
    assert np.array_equal(_op("AutoContrast", x, 0.0), expected)


def test_rotate_is_30_f_degrees_counter_clockwise() -> None:
    x = _pixels(20, 20)
    assert np.array_equal(_op("Rotate", x, 3.0), np.rot90(x, 1))  # 90 degrees: exact on pixel centres
    assert np.array_equal(_op("Rotate", x, 3.0, u=0.1), np.rot90(x, -1))


def test_shear_is_0_3_f() -> None:
    x = _pixels(10, 40)
    out = _op("ShearX", x, 2 / 0.3)  # coefficient 2: output (col, row) samples input col + 2 row + 1
    for row in range(10):
        cols = np.arange(40) + 2 * row + 1
        inside = cols < 40
        assert np.array_equal(out[row, inside], x[row, cols[inside]])
        assert (out[row, ~inside] == GREY).all()
    out = _op("ShearY", x.transpose(1, 0, 2).copy(), 2 / 0.3)
    assert np.array_equal(out.transpose(1, 0, 2)[:, :20], _op("ShearX", x, 2 / 0.3)[:, :20])


def test_translate_y_is_0_45_f_of_the_height() -> None:
    x = _pixels(200, 8)
    out = _op("TranslateY", x, 0.9)  # magnitude 9: 0.405 * 200 = 81 rows
    assert np.array_equal(out[:119], x[81:]) and (out[119:] == GREY).all()
    down = _op("TranslateY", x, 0.9, u=0.1)
    assert np.array_equal(down[81:], x[:119]) and (down[:81] == GREY).all()


def test_policy_v0_is_automls_25_sub_policies() -> None:
    assert len(POLICY_V0) == 25 and all(len(sub) == 2 for sub in POLICY_V0)
    assert {name for sub in POLICY_V0 for name, _, _ in sub} <= set(OPS)
    assert POLICY_V0[0] == (("Equalize", 0.8, 1), ("ShearY", 0.8, 4))  # autoaugment.py:39
    assert POLICY_V0[-1] == (("Color", 0.8, 6), ("Rotate", 0.4, 5))  # autoaugment.py:63
    assert all(0 <= p <= 1 and 0 <= m <= 10 for sub in POLICY_V0 for _, p, m in sub)


def test_sub_policy_applies_each_op_with_its_probability() -> None:
    x = _pixels()
    img = Image.fromarray(x)
    sub = (("Invert", 0.4, 9), ("Rotate", 0.6, 0))  # policy v0 line 48
    assert np.array_equal(np.asarray(apply_sub_policy(img, sub, Fixed(0.1))), 255 - x)  # both ops
    assert np.array_equal(np.asarray(apply_sub_policy(img, sub, Fixed(0.5))), x)  # Rotate 0 only
    never = (("ShearX", 0.0, 0), ("Equalize", 0.0, 8))
    assert apply_sub_policy(img, never, Fixed(0.0)) is img


def test_auto_augment_draws_one_sub_policy_uniformly() -> None:
    img = Image.fromarray(_pixels())
    for seed in range(5):
        rng, again = np.random.default_rng(seed), np.random.default_rng(seed)
        expected = apply_sub_policy(img, POLICY_V0[int(again.integers(25))], again)
        assert np.array_equal(np.asarray(auto_augment(img, rng)), np.asarray(expected))
