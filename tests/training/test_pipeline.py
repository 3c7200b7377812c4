"""``training.pipeline.Pipeline``: shapes, preprocessing, recorded settings, determinism (seed,
epoch, workers), mixup, sharding, evaluation, and following ``spec.schedule`` stage by stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from effnet import spec
from effnet.training.augment import center_crop_resize
from effnet.training.dataset import ImageFolder, Sample, scan
from effnet.training.errors import DataError
from effnet.training.pipeline import Batch, Pipeline

V2_PRE = spec.Preprocessing(scale=(1 / 128,) * 3, offset=(-1.0,) * 3)  # x / 128 - 1 (SOURCES §3.4)
IDENTITY = spec.Preprocessing(scale=(1.0,) * 3, offset=(0.0,) * 3)


@pytest.fixture(scope="module")
def data(small_folder: Path) -> ImageFolder:
    return scan(small_folder)


def _pipe(data: ImageFolder, **kw: Any) -> Pipeline:
    args: dict[str, Any] = dict(
        num_classes=3, image_size=40, batch_size=4, preprocessing=V2_PRE, train=True, workers=2
    )
    args.update(kw)
    return Pipeline(data.train if args["train"] else data.val, **args)


def _all(p: Pipeline) -> list[Batch]:
    return list(p)


def _same(a: list[Batch], b: list[Batch]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.x, y.x) and np.array_equal(x.y, y.y) and np.array_equal(x.labels, y.labels)
        for x, y in zip(a, b, strict=True)
    )


def test_shapes_dtypes_and_ranges(data: ImageFolder) -> None:
    p = _pipe(data, randaug_magnitude=10, label_smoothing=0.1)
    batches = _all(p)
    assert len(p) == len(batches) == 21 // 4  # drop_last when training
    for b in batches:
        assert b.x.shape == (4, 40, 40, 3) and b.x.dtype == np.float32
        assert b.y.shape == (4, 3) and b.y.dtype == np.float32
        assert b.labels.shape == (4,) and b.labels.dtype == np.int64
        assert b.x.min() >= -1.0 and b.x.max() <= 255 / 128 - 1
        assert np.allclose(b.y.sum(1), 1.0, atol=1e-6)
    assert np.unique(np.concatenate([b.labels for b in batches])).tolist() == [0, 1, 2]


def test_preprocessing_is_scale_and_offset(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    Image.new("RGB", (50, 30), (10, 128, 250)).save(tmp_path / "c" / "flat.png")
    pre = spec.resolve("efficientnet-b0").preprocessing  # ImageNet mean/std, per channel
    b = next(
        iter(
            Pipeline(
                [Sample(str(tmp_path / "c" / "flat.png"), 0)],
                num_classes=1,
                image_size=16,
                batch_size=1,
                preprocessing=pre,
                train=False,
                workers=0,
            )
        )
    )
    expected = np.array([10, 128, 250], np.float32) * np.array(pre.scale, np.float32) + np.array(
        pre.offset, np.float32
    )
    assert np.allclose(b.x[0], expected, atol=1e-5)


def test_settings_record_the_arguments(data: ImageFolder) -> None:
    p = _pipe(data, image_size=36, randaug_magnitude=6.6667, mixup_alpha=0.133, label_smoothing=0.1, epoch=3)
    s = next(iter(p)).settings
    assert s["image_size"] == 36 and s["randaug_magnitude"] == 6.6667 and s["mixup_alpha"] == 0.133
    assert s["randaug_layers"] == 2 and s["label_smoothing"] == 0.1 and s["epoch"] == 3 and s["train"]
    assert 0 < s["mixup_lambda"] < 1 and s["batch_index"] == 0
    ev = next(iter(_pipe(data, train=False, image_size=36, randaug_magnitude=6.0, mixup_alpha=0.2))).settings
    assert ev["randaug_magnitude"] == 0.0 and ev["mixup_alpha"] == 0.0 and ev["mixup_lambda"] == 1.0
    assert not ev["train"] and ev["image_size"] == 36


def test_follows_spec_schedule_stage_by_stage(data: ImageFolder) -> None:
    """What a trainer does: build each stage's pipeline from ``spec.schedule`` and nothing else."""
    stages = spec.schedule("efficientnetv2-m", "paper", epochs=8, size_multiple=32)
    seen = []
    for stage in stages:
        p = _pipe(
            data,
            image_size=stage.image_size,
            randaug_magnitude=stage.randaug_magnitude,
            mixup_alpha=stage.mixup_alpha,
            batch_size=2,
            epoch=stage.epoch_start,
        )
        batch = next(iter(p))
        assert batch.x.shape[1:3] == (stage.image_size, stage.image_size)
        seen.append(
            (batch.settings["image_size"], batch.settings["randaug_magnitude"], batch.settings["mixup_alpha"])
        )
    assert seen == [(s.image_size, s.randaug_magnitude, s.mixup_alpha) for s in stages]
    assert seen[0][1] < seen[-1][1] and seen[0][2] == 0.0 < seen[-1][2]


def test_deterministic_for_seed_and_epoch_whatever_the_workers(data: ImageFolder) -> None:
    kw = dict(randaug_magnitude=15, mixup_alpha=0.2, label_smoothing=0.1, seed=5, epoch=1)
    ref = _all(_pipe(data, workers=0, **kw))
    assert _same(ref, _all(_pipe(data, workers=0, **kw)))
    assert _same(ref, _all(_pipe(data, workers=1, prefetch=1, **kw)))
    assert _same(ref, _all(_pipe(data, workers=3, prefetch=3, **kw)))
    other_epoch = _pipe(data, workers=0, **{**kw, "epoch": 2})
    assert not np.array_equal(other_epoch.order(), _pipe(data, **kw).order())
    assert not _same(ref, _all(other_epoch))
    assert not _same(ref, _all(_pipe(data, workers=0, **{**kw, "seed": 6})))
    assert sorted(_pipe(data, **kw).order().tolist()) == list(range(len(data.train)))


def test_mixup_alpha_zero_gives_smoothed_one_hot(data: ImageFolder) -> None:
    for b in _pipe(data, mixup_alpha=0.0, label_smoothing=0.1):
        expected = np.full((4, 3), 0.1 / 3, np.float32)
        expected[np.arange(4), b.labels] += 0.9
        assert np.array_equal(b.y, expected) and b.settings["mixup_lambda"] == 1.0


def test_mixup_alpha_positive_mixes_rows_summing_to_one(data: ImageFolder) -> None:
    batches = _all(_pipe(data, mixup_alpha=0.4, batch_size=7))
    mixed = 0
    for b in batches:
        lam = b.settings["mixup_lambda"]
        assert 0 < lam < 1 and np.allclose(b.y.sum(1), 1.0, atol=1e-6)
        assert np.all(b.y.max(1) >= max(lam, 1 - lam) - 1e-6)
        mixed += int(np.sum(np.sort(b.y, axis=1)[:, -2] > 1e-3))  # rows with a second class in them
        assert np.all(b.y[np.arange(len(b.labels)), b.labels] >= lam - 1e-6)  # own label keeps >= lam
    assert mixed > 0


def test_mixup_and_cutmix_each_take_half_the_batch(data: ImageFolder) -> None:
    """automl: with both alphas on, mixup mixes the first half and CutMix the second."""
    plain = _all(_pipe(data, batch_size=6, seed=3))
    both = _all(_pipe(data, batch_size=6, seed=3, mixup_alpha=0.5, cutmix_alpha=0.5))
    pasted = 0
    for a, b in zip(plain, both, strict=True):
        s = b.settings
        assert s["mixup_rows"] == 3 and len(s["cutmix_areas"]) == 3 and s["cutmix_alpha"] == 0.5
        assert np.allclose(b.y.sum(1), 1.0, atol=1e-6) and np.array_equal(a.labels, b.labels)
        for row, area in zip(range(3, 6), s["cutmix_areas"], strict=True):
            own = b.y[row, b.labels[row]]  # keeps 1 - area of its label (more if the partner shares it)
            assert own >= 1 - area - 1e-6
            changed = np.any(a.x[row] != b.x[row], axis=-1).mean()  # pixels that took a partner's
            assert changed <= area + 1e-9
            pasted += area > 0
    assert pasted > 0


def test_autoaugment_replaces_randaugment(data: ImageFolder) -> None:
    plain = _all(_pipe(data, seed=1))
    auto = _all(_pipe(data, seed=1, augment="autoaugment", randaug_magnitude=9))
    again = _all(_pipe(data, seed=1, augment="autoaugment", workers=0))  # magnitude unused by the policy
    assert _same(auto, again) and not _same(auto, plain)
    assert auto[0].settings["augment"] == "autoaugment"
    evaluation = next(iter(_pipe(data, train=False, augment="autoaugment", cutmix_alpha=0.5)))
    assert evaluation.settings["augment"] == "none" and evaluation.settings["cutmix_areas"] == []
    with pytest.raises(ValueError, match="augment must be one of"):
        _pipe(data, augment="trivialaugment")


@pytest.mark.parametrize("world", [2, 3])
def test_shards_concatenate_to_the_single_process_batch(data: ImageFolder, world: int) -> None:
    kw = dict(randaug_magnitude=10, label_smoothing=0.1, seed=1, epoch=2, batch_size=2)
    whole = _all(_pipe(data, **{**kw, "batch_size": 2 * world}))
    shards = [_all(_pipe(data, shard=(r, world), **kw)) for r in range(world)]
    assert all(len(s) == len(whole) for s in shards)
    for i, global_batch in enumerate(whole):
        parts = [s[i] for s in shards]
        assert all(len(p.labels) == 2 for p in parts)
        assert np.array_equal(np.concatenate([p.x for p in parts]), global_batch.x)
        assert np.array_equal(np.concatenate([p.y for p in parts]), global_batch.y)
        assert np.array_equal(np.concatenate([p.labels for p in parts]), global_batch.labels)


def test_sharded_evaluation_covers_every_sample_once(data: ImageFolder) -> None:
    world = 2  # 9 val images, global batch 4: 4 + 4 + 1, the last split 0 / 1
    shards = [_all(_pipe(data, train=False, shard=(r, world), batch_size=2)) for r in range(world)]
    assert [len(s) for s in shards] == [3, 3]
    assert [len(b.labels) for b in shards[0]] == [2, 2, 0] and [len(b.labels) for b in shards[1]] == [2, 2, 1]
    whole = _all(_pipe(data, train=False, batch_size=4))
    for i, b in enumerate(whole):
        assert np.array_equal(np.concatenate([shards[0][i].x, shards[1][i].x]), b.x)


def test_sharded_mixup_shares_lambda(data: ImageFolder) -> None:
    kw = dict(mixup_alpha=0.3, seed=2, batch_size=3)
    whole = _all(_pipe(data, **{**kw, "batch_size": 6}))
    shards = [_all(_pipe(data, shard=(r, 2), **kw)) for r in range(2)]
    for i, b in enumerate(whole):
        assert shards[0][i].settings["mixup_lambda"] == shards[1][i].settings["mixup_lambda"]
        assert shards[0][i].settings["mixup_lambda"] == b.settings["mixup_lambda"]
        assert np.array_equal(np.concatenate([shards[0][i].labels, shards[1][i].labels]), b.labels)


def test_evaluation_order_and_partial_batch(data: ImageFolder) -> None:
    p = _pipe(data, train=False, batch_size=4)
    batches = _all(p)
    assert len(p) == 3 and [len(b.labels) for b in batches] == [4, 4, 1]
    assert np.concatenate([b.labels for b in batches]).tolist() == [s.label for s in data.val]
    assert _same(batches, _all(_pipe(data, train=False, batch_size=4, seed=9, epoch=4)))  # no randomness
    img = Image.open(data.val[0].path).convert("RGB")
    expected = np.asarray(center_crop_resize(img, 40), np.float32) / 128 - 1
    assert np.allclose(batches[0].x[0], expected, atol=1e-6)
    assert len(_pipe(data, train=True, batch_size=4, drop_last=False)) == 6


def test_large_jpeg_draft_decode_matches_full_decode(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:600, 0:800]
    smooth = np.stack([xx % 256, yy % 256, (xx // 4 + yy // 3) % 256], -1) + rng.integers(0, 8, (600, 800, 3))
    Image.fromarray(smooth.astype(np.uint8)).save(tmp_path / "big.jpg", quality=95)
    sample = Sample(str(tmp_path / "big.jpg"), 0)
    b = next(
        iter(
            Pipeline(
                [sample],
                num_classes=1,
                image_size=64,
                batch_size=1,
                preprocessing=IDENTITY,
                train=False,
                workers=0,
            )
        )
    )
    full = np.asarray(center_crop_resize(Image.open(sample.path).convert("RGB"), 64), np.float32)
    assert np.abs(b.x[0] - full).mean() < 4.0


def test_undecodable_image_raises_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    p = Pipeline(
        [Sample(str(bad), 0)],
        num_classes=1,
        image_size=8,
        batch_size=1,
        preprocessing=IDENTITY,
        train=True,
        workers=1,
    )
    with pytest.raises(DataError, match="bad.jpg"):
        list(p)


def test_invalid_arguments(data: ImageFolder) -> None:
    with pytest.raises(ValueError, match="shard"):
        _pipe(data, shard=(2, 2))
    with pytest.raises(ValueError, match="randaug_magnitude"):
        _pipe(data, randaug_magnitude=31)
    with pytest.raises(DataError, match="no full global batch"):
        _pipe(data, batch_size=30)
    with pytest.raises(DataError, match="outside"):
        Pipeline(
            [Sample("x.png", 3)],
            num_classes=3,
            image_size=8,
            batch_size=1,
            preprocessing=IDENTITY,
            train=False,
        )


def test_breaking_out_early_does_not_hang(data: ImageFolder) -> None:
    p = _pipe(data, workers=2, prefetch=3, batch_size=1)
    for i, _ in enumerate(p):
        if i == 1:
            break
    assert len(_all(p)) == len(p)  # the pipeline can be iterated again


def test_other_image_modes_become_rgb(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8))
    images = {
        "gray.jpg": rgb.convert("L"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P"),
        "gray16.png": rgb.convert("L").convert("I;16"),
    }
    pal = rgb.convert("P")
    pal.info["transparency"] = 0
    images["palette_transparent.png"] = pal
    samples = []
    for name, img in images.items():
        img.save(tmp_path / name)
        samples.append(Sample(str(tmp_path / name), 0))
    for train in (True, False):
        p = Pipeline(
            samples,
            num_classes=1,
            image_size=24,
            batch_size=len(samples),
            preprocessing=IDENTITY,
            train=train,
            randaug_magnitude=9,
            workers=2,
            drop_last=False,
        )
        (b,) = list(p)
        assert b.x.shape == (len(samples), 24, 24, 3) and np.isfinite(b.x).all()


@pytest.mark.parametrize("workers", [0, 2])
def test_vectorised_preprocessing_is_bit_identical_to_the_per_channel_formula(
    data: ImageFolder, workers: int
) -> None:
    """The batches equal ``float32(load(i)) * scale + offset`` (numpy's per-channel broadcast, as the
    pipeline computed it before), whatever the channel-specific scale and offset, for a fixed seed."""
    pre = spec.Preprocessing(scale=(1 / 58.395, 1 / 57.12, 1 / 57.375), offset=(-2.1179, -2.0357, -1.8044))
    pipe = Pipeline(
        data.train,
        num_classes=3,
        image_size=37,
        batch_size=4,
        preprocessing=pre,
        train=True,
        randaug_magnitude=9,
        label_smoothing=0.1,
        seed=3,
        epoch=1,
        workers=workers,
    )
    scale, offset = np.float32(pre.scale), np.float32(pre.offset)
    batches = list(pipe)
    assert len(batches) == 5
    for idx, batch in zip(pipe.indices(), batches, strict=True):
        expected = np.stack([np.asarray(pipe.load(int(i)), np.float32) * scale + offset for i in idx])
        assert expected.dtype == np.float32
        assert np.array_equal(batch.x, expected)
        assert not np.array_equal(batch.x[..., 0], batch.x[..., 1])  # channels kept apart


@pytest.mark.parametrize("model, rule", [("efficientnetv2-b0", "code"), ("efficientnetv2-s", "paper")])
def test_for_stage_applies_the_stage_the_recipe_and_the_model(
    data: ImageFolder, model: str, rule: str
) -> None:
    """``Pipeline.for_stage`` (what ``effnet train`` and both benchmarks build) takes each stage's size
    and regularisation, the recipe's RandAugment layers and smoothing, the model's preprocessing."""
    from effnet.spec.recipe import recipe

    ms, rec = spec.resolve(model, num_classes=3), recipe(model, batch_size=4)
    for stage in spec.schedule(model, rule):
        pipe = Pipeline.for_stage(
            data.train, stage, model=ms, recipe=rec, num_classes=3, batch_size=4, epoch=2
        )
        expected = {
            "image_size": stage.image_size,
            "augment": stage.augment,
            "randaug_magnitude": stage.randaug_magnitude,
            "randaug_layers": rec.randaug_layers,
            "mixup_alpha": stage.mixup_alpha,
            "cutmix_alpha": stage.cutmix_alpha,
            "label_smoothing": rec.label_smoothing,
            "train": True,
            "epoch": 2,
        }
        assert {k: pipe.settings[k] for k in expected} == expected
        assert np.array_equal(pipe._scale, np.float32(ms.preprocessing.scale))
    resized = Pipeline.for_stage(
        data.train, stage, model=ms, recipe=rec, num_classes=3, batch_size=4, image_size=33
    )
    assert resized.image_size == 33 and next(iter(resized)).x.shape == (4, 33, 33, 3)
