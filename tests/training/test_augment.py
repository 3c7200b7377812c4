"""``training.augment``: crops, RandAugment (magnitude 0 is the identity), labels and mixup."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from effnet.training import augment
from effnet.training.augment import (
    RANDAUG_OPS,
    apply_op,
    center_crop_resize,
    mixup,
    rand_augment,
    random_flip,
    random_resized_crop,
    random_resized_crop_box,
    soft_labels,
)


def _image(w: int = 80, h: int = 60, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 3 % 256, yy * 4 % 256, (xx + yy) * 2 % 256], axis=-1)
    noise = rng.integers(-20, 20, (h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def test_random_resized_crop_box_ranges() -> None:
    rng = np.random.default_rng(0)
    areas, ratios = [], []
    for _ in range(400):
        left, top, right, bottom = random_resized_crop_box(200, 150, rng)
        assert 0 <= left < right <= 200 and 0 <= top < bottom <= 150
        areas.append((right - left) * (bottom - top) / (200 * 150))
        ratios.append((right - left) / (bottom - top))
    assert 0.07 < min(areas) < 0.2 and max(areas) <= 1.0
    assert min(ratios) > 0.7 and max(ratios) < 1.4
    # a very thin image falls back to the central crop at the nearest allowed ratio
    box = random_resized_crop_box(1000, 10, np.random.default_rng(1), scale=(0.99, 1.0))
    assert box == (493, 0, 506, 10)  # width round(10 * 4/3) = 13, centred
    img = random_resized_crop(_image(), 32, np.random.default_rng(2))
    assert img.size == (32, 32) and img.mode == "RGB"


def test_center_crop_resize_equals_resize_then_crop() -> None:
    img = _image(90, 70)
    size = 48
    short = math.floor(size / 0.875)
    full = img.resize((int(short * 90 / 70), short), Image.Resampling.BILINEAR)
    left, top = round((full.width - size) / 2), round((full.height - size) / 2)
    expected = np.asarray(full.crop((left, top, left + size, top + size)), dtype=np.int16)
    got = np.asarray(center_crop_resize(img, size), dtype=np.int16)
    assert got.shape == (size, size, 3)
    assert np.abs(got - expected).max() <= 1


def test_random_flip_is_a_mirror_or_nothing() -> None:
    img = _image()
    outs = {bool(np.array_equal(random_flip(img, np.random.default_rng(s)), img)) for s in range(20)}
    assert outs == {True, False}
    flipped = next(
        random_flip(img, np.random.default_rng(s))
        for s in range(20)
        if not np.array_equal(random_flip(img, np.random.default_rng(s)), img)
    )
    assert np.array_equal(np.asarray(flipped), np.asarray(img)[:, ::-1])


@pytest.mark.parametrize("name", [n for n in RANDAUG_OPS if n not in ("AutoContrast", "Equalize")])
def test_every_magnitude_op_is_the_identity_at_magnitude_zero(name: str) -> None:
    img = _image()
    out = apply_op(img, name, 0.0, np.random.default_rng(0))
    assert np.array_equal(np.asarray(out), np.asarray(img))


@pytest.mark.parametrize("name", RANDAUG_OPS)
def test_every_op_changes_the_image_at_magnitude_ten(name: str) -> None:
    img = _image()
    out = apply_op(img, name, 10.0, np.random.default_rng(0))
    assert out.size == img.size and out.mode == "RGB"
    assert not np.array_equal(np.asarray(out), np.asarray(img))
    again = apply_op(img, name, 10.0, np.random.default_rng(0))
    assert np.array_equal(np.asarray(out), np.asarray(again))  # deterministic given the generator


def test_rand_augment_magnitude_zero_is_identity_and_strength_grows() -> None:
    img = _image()
    assert rand_augment(img, 2, 0.0, np.random.default_rng(0)) is img
    assert rand_augment(img, 0, 10.0, np.random.default_rng(0)) is img
    ref = np.asarray(img, dtype=np.float64)

    def change(magnitude: float) -> float:
        outs = [rand_augment(img, 2, magnitude, np.random.default_rng(s)) for s in range(40)]
        return float(np.mean([np.abs(np.asarray(o, dtype=np.float64) - ref).mean() for o in outs]))

    small, large = change(1.0), change(15.0)
    assert 0 < small < large
    with pytest.raises(ValueError, match="magnitude"):
        rand_augment(img, 2, 31.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown RandAugment op"):
        apply_op(img, "Invert", 5.0, np.random.default_rng(0))


def test_magnitude_mapping_follows_the_cited_scale() -> None:
    """Rotate +-30 deg and shear +-0.3 at magnitude 10 (automl's _MAX_LEVEL), half that at 5."""
    square = Image.new("RGB", (101, 101), (0, 0, 0))
    square.paste((255, 255, 255), (50, 0, 51, 101))  # a vertical line through the centre
    assert augment.MAX_LEVEL == 10.0
    for magnitude, degrees in ((10.0, 30.0), (5.0, 15.0)):
        out = np.asarray(apply_op(square, "Rotate", magnitude, np.random.default_rng(0)))[..., 0]
        ys, xs = np.nonzero(out[10:91] > 128)
        slope = np.polyfit(ys, xs, 1)[0]
        assert abs(abs(math.degrees(math.atan(slope))) - degrees) < 1.5


def test_soft_labels() -> None:
    y = soft_labels(np.array([0, 2]), 4, 0.0)
    assert y.dtype == np.float32 and np.array_equal(y, np.eye(4, dtype=np.float32)[[0, 2]])
    y = soft_labels(np.array([1, 3, 3]), 4, 0.1)
    assert np.allclose(y[0], [0.025, 0.925, 0.025, 0.025]) and np.allclose(y.sum(1), 1.0)
    with pytest.raises(ValueError, match="labels must be in"):
        soft_labels(np.array([4]), 4)


def test_mixup() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 4, 3)).astype(np.float32)
    y = soft_labels(np.arange(6) % 3, 3, 0.1)
    same_x, same_y, lam = mixup(x, y, 0.0, np.random.default_rng(1))
    assert same_x is x and same_y is y and lam == 1.0
    mx, my, lam = mixup(x, y, 0.4, np.random.default_rng(1))
    assert 0 < lam < 1 and mx.dtype == np.float32 and my.dtype == np.float32
    assert np.allclose(my.sum(1), 1.0, atol=1e-6)
    again = np.random.default_rng(1)
    assert float(again.beta(0.4, 0.4)) == lam
    perm = again.permutation(6)
    assert np.allclose(mx, lam * x + (1 - lam) * x[perm], atol=1e-6)
    assert np.allclose(my, lam * y + (1 - lam) * y[perm], atol=1e-6)
