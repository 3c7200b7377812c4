"""``training.builtin``: deterministic, offline, cached atomically (a folder without its marker is
never trusted). Most tests shrink the dataset to a few images per class; one slow test builds the
full size."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from effnet.training import builtin
from effnet.training.dataset import scan


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "TRAIN_PER_CLASS", 3)
    monkeypatch.setattr(builtin, "VAL_PER_CLASS", 1)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_deterministic_and_scans(tmp_path: Path, tiny: None) -> None:
    a = builtin.ensure_builtin(tmp_path / "one")
    b = builtin.ensure_builtin(tmp_path / "two", workers=1)
    assert a == tmp_path / "one" / builtin.NAME and a.name == f"builtin-v{builtin.VERSION}"
    files_a, files_b = _files(a), _files(b)
    assert files_a == files_b  # same bytes, whatever the number of threads
    assert len(files_a) == 8 * (3 + 1) + 1
    data = scan(a)
    assert data.classes == builtin.CLASSES and len(data.classes) == 8
    assert len(data.train) == 24 and len(data.val) == 8 and data.skipped == ()
    meta = json.loads((a / builtin.MARKER).read_text())
    assert meta["version"] == builtin.VERSION and meta["train_per_class"] == 3


def test_second_call_uses_the_cache(tmp_path: Path, tiny: None, monkeypatch: pytest.MonkeyPatch) -> None:
    first = builtin.ensure_builtin(tmp_path)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated a complete cache")

    monkeypatch.setattr(builtin, "generate", fail)
    assert builtin.ensure_builtin(tmp_path) == first
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([builtin.NAME, f".{builtin.NAME}.lock"])  # no temporary folders left behind


@pytest.mark.parametrize("marker", [None, "{not json", '{"version": 0}'])
def test_an_incomplete_cache_is_regenerated(tmp_path: Path, tiny: None, marker: str | None) -> None:
    target = tmp_path / builtin.NAME
    (target / "train" / "disc_checks").mkdir(parents=True)
    (target / "train" / "disc_checks" / "0000.jpg").write_bytes(b"half-written")
    if marker is not None:
        (target / builtin.MARKER).write_text(marker)
    assert not builtin.is_complete(target)
    assert builtin.ensure_builtin(tmp_path) == target
    assert builtin.is_complete(target)
    assert scan(target).skipped == ()
    assert _files(target) == _files(builtin.ensure_builtin(tmp_path / "fresh"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [builtin.NAME, f".{builtin.NAME}.lock", "fresh"]
    )


def test_a_different_size_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "TRAIN_PER_CLASS", 2)
    monkeypatch.setattr(builtin, "VAL_PER_CLASS", 1)
    target = builtin.ensure_builtin(tmp_path)
    monkeypatch.setattr(builtin, "TRAIN_PER_CLASS", 3)
    assert not builtin.is_complete(target)
    assert len(scan(builtin.ensure_builtin(tmp_path)).train) == 24


def test_default_cache_root_is_effnet_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny: None
) -> None:
    monkeypatch.setenv("EFFNET_CACHE", str(tmp_path / "env"))
    assert builtin.default_cache_root() == tmp_path / "env"
    assert builtin.ensure_builtin() == tmp_path / "env" / builtin.NAME
    monkeypatch.delenv("EFFNET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert builtin.default_cache_root() == tmp_path / "xdg" / "effnet-spec"


def test_render_classes_differ_in_texture_at_full_resolution_only() -> None:
    """Stripes vs checks: visible at 160 px, gone after shrinking to 32 px (resolution matters)."""
    from PIL import Image

    def detail(img: np.ndarray) -> float:  # energy of the finest scale: image minus its 2x2 box blur
        f = img.astype(np.float64).mean(axis=2)
        blur = (f[:-1, :-1] + f[1:, :-1] + f[:-1, 1:] + f[1:, 1:]) / 4
        return float(np.abs(f[:-1, :-1] - blur).mean())

    for texture in builtin.TEXTURES:
        img = builtin.render("disc", texture, np.random.default_rng(7))
        assert img.shape == (160, 160, 3) and img.dtype == np.uint8
        small = np.asarray(Image.fromarray(img).resize((32, 32), Image.Resampling.BILINEAR))
        assert detail(img) > 2 * detail(small)
    with pytest.raises(ValueError, match="unknown shape"):
        builtin.render("hexagon", "stripes", np.random.default_rng(0))


@pytest.mark.slow
def test_full_size_builtin(tmp_path: Path) -> None:
    started = time.perf_counter()
    root = builtin.ensure_builtin(tmp_path)
    elapsed = time.perf_counter() - started
    data = scan(root)
    assert len(data.train) == 8 * builtin.TRAIN_PER_CLASS and len(data.val) == 8 * builtin.VAL_PER_CLASS
    assert data.skipped == ()
    size_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
    print(f"builtin: generated in {elapsed:.1f} s, {size_mb:.1f} MB")
    assert elapsed < 120


def test_an_interrupted_generation_leaves_nothing_trusted(
    tmp_path: Path, tiny: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = builtin._write_one
    calls = []

    def dies_midway(*args: object) -> None:
        calls.append(args)
        if len(calls) == 10:
            raise KeyboardInterrupt
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(builtin, "_write_one", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        builtin.ensure_builtin(tmp_path, workers=1)
    assert not (tmp_path / builtin.NAME).exists()
    assert [p.name for p in tmp_path.iterdir()] == [f".{builtin.NAME}.lock"]
    monkeypatch.setattr(builtin, "_write_one", real)
    assert builtin.is_complete(builtin.ensure_builtin(tmp_path))
