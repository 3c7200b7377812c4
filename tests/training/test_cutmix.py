"""CutMix with automl's box rule, per-example label weights, and the half-half split with mixup."""

from __future__ import annotations

import math

import numpy as np
import pytest

from effnet.training.augment import soft_labels
from effnet.training.cutmix import cutmix, cutmix_box, split_for_mixing


def test_box_follows_automls_rule() -> None:
    for seed in range(20):
        left, top, right, bottom = cutmix_box(30, 40, 0.5, np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        cx, cy = int(rng.integers(0, 40)), int(rng.integers(0, 30))
        ratio = math.sqrt(1 - rng.beta(0.5, 0.5))
        hw, hh = int(ratio * 40) // 2, int(ratio * 30) // 2
        assert (left, top, right, bottom) == (
            max(cx - hw, 0),
            max(cy - hh, 0),
            min(cx + hw, 40),
            min(cy + hh, 30),
        )
    with pytest.raises(ValueError, match="alpha"):
        cutmix_box(8, 8, 0.0, np.random.default_rng(0))


def test_pastes_the_partner_inside_the_box_and_weights_labels_by_area() -> None:
    x = np.arange(3 * 10 * 10 * 3, dtype=np.float32).reshape(3, 10, 10, 3)
    y = soft_labels(np.array([0, 1, 2]), 3, 0.1)
    boxes = [(2, 3, 7, 8), (0, 0, 10, 10), (4, 4, 4, 9)]  # 25 px, the whole image, empty
    perm = np.array([1, 2, 0])
    out, y_out, areas = cutmix(x, y, boxes, perm)
    assert np.allclose(areas, [0.25, 1.0, 0.0])
    expected = x.copy()
    expected[0, 3:8, 2:7] = x[1, 3:8, 2:7]
    expected[1] = x[2]
    assert np.array_equal(out, expected) and not np.shares_memory(out, x)
    assert np.allclose(y_out[0], 0.75 * y[0] + 0.25 * y[1]) and np.allclose(y_out[1], y[2])
    assert np.allclose(y_out[2], y[2]) and np.allclose(y_out.sum(1), 1.0)


def test_mixup_and_cutmix_split_the_batch_in_halves() -> None:
    assert split_for_mixing(7, 0.2, 0.2) == (slice(0, 3), slice(3, 7))  # automl datasets.py:289
    assert split_for_mixing(7, 0.2, 0.0) == (slice(0, 7), slice(7, 7))
    assert split_for_mixing(7, 0.0, 0.2) == (slice(0, 0), slice(0, 7))
    assert split_for_mixing(7, 0.0, 0.0) == (slice(0, 0), slice(0, 0))
