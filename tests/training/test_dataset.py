"""``training.dataset.scan``: layout errors name the folder at fault; corrupt images are skipped."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effnet.training.dataset import Sample, check_image, scan
from effnet.training.errors import DataError

from .helpers import write_folder


def _png_bytes(size: int = 32, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
        buf, "PNG"
    )
    return buf.getvalue()


def _jpeg_bytes(size: int = 64, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
        buf, "JPEG"
    )
    return buf.getvalue()


def test_scan_layout_labels_and_order(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"zebra": (2, 1), "ant": (3, 1), "moth": (1, 0)})
    (root / "val" / "moth").rmdir()  # val may hold a subset of the classes
    (root / "train" / "ant" / "IMG_UPPER.JPEG").write_bytes(_jpeg_bytes())  # suffixes: any case
    (root / "train" / "ant" / "notes.txt").write_text("ignored")
    (root / "train" / "ant" / ".hidden.png").write_bytes(_png_bytes())
    (root / "train" / ".cache").mkdir()  # hidden folders are not classes
    data = scan(root)
    assert data.classes == ("ant", "moth", "zebra")
    assert data.num_classes == 3 and data.skipped == () and data.root == str(root)
    names = [(Path(s.path).parent.name, Path(s.path).name, s.label) for s in data.train]
    assert names == [
        ("ant", "IMG_UPPER.JPEG", 0),
        ("ant", "img000.png", 0),
        ("ant", "img001.png", 0),
        ("ant", "img002.png", 0),
        ("moth", "img000.png", 1),
        ("zebra", "img000.png", 2),
        ("zebra", "img001.png", 2),
    ]
    assert [s.label for s in data.val] == [0, 2]
    assert all(isinstance(s, Sample) for s in data.train + data.val)
    assert scan(root) == data  # deterministic


@pytest.mark.parametrize(
    ("breakage", "folder", "words"),
    [
        ("no_root", "", "does not exist"),
        ("no_train", "train", "missing train/"),
        ("no_val", "val", "missing val/"),
        ("no_train_classes", "train", "no class folders"),
        ("empty_train_class", "train/b", "no images"),
        ("empty_val_class", "val/a", "no images"),
        ("val_class_not_in_train", "val/stray", "not in train"),
    ],
)
def test_scan_errors_name_the_folder(tmp_path: Path, breakage: str, folder: str, words: str) -> None:
    root = tmp_path / "data"
    if breakage != "no_root":
        write_folder(root, {"a": (1, 1), "b": (1, 1)}, size=32)
    if breakage in ("no_train", "no_val"):
        for p in sorted((root / folder).rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        (root / folder).rmdir()
    elif breakage == "no_train_classes":
        for cls in ("a", "b"):
            for p in (root / "train" / cls).iterdir():
                p.unlink()
            (root / "train" / cls).rmdir()
        (root / "train" / "loose.png").write_bytes(_png_bytes())  # files directly in train/ are not classes
    elif breakage in ("empty_train_class", "empty_val_class"):
        for p in (root / folder).iterdir():
            p.unlink()
        (root / folder / "readme.txt").write_text("not an image")
    elif breakage == "val_class_not_in_train":
        (root / folder).mkdir()
        (root / folder / "x.png").write_bytes(_png_bytes())
    with pytest.raises(DataError, match=re.escape(str(root / folder).rstrip("/"))) as info:
        scan(root)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_corrupt_images_are_skipped_and_counted(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"a": (3, 1), "b": (3, 1)}, size=32)
    bad = {
        root / "train" / "a" / "garbage.jpg": b"this is not an image at all" * 10,
        root / "train" / "a" / "empty.png": b"",
        root / "train" / "b" / "truncated.png": _png_bytes()[:200],
        root / "val" / "b" / "truncated.jpg": _jpeg_bytes()[:-300],
    }
    for path, data in bad.items():
        path.write_bytes(data)
    for workers in (1, 3):
        data = scan(root, workers=workers)
        assert sorted(p for p, _ in data.skipped) == sorted(str(p) for p in bad)
        assert all(reason for _, reason in data.skipped)
        assert len(data.train) == 6 and len(data.val) == 2
        assert not {s.path for s in data.train + data.val} & {str(p) for p in bad}
    reasons = dict(scan(root).skipped)
    assert "end-of-image" in reasons[str(root / "val" / "b" / "truncated.jpg")]
    # full decoding also catches the truncated JPEG; "none" trusts the suffix
    assert check_image(str(root / "val" / "b" / "truncated.jpg"), "full") is not None
    assert scan(root, verify="none").skipped == ()


def test_a_class_of_only_corrupt_images_is_an_error(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"a": (2, 1), "b": (1, 1)}, size=32)
    (root / "train" / "b" / "img000.png").write_bytes(b"broken")
    with pytest.raises(DataError, match=re.escape(str(root / "train" / "b")) + ".*no readable images"):
        scan(root)
