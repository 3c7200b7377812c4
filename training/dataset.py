"""ImageFolder datasets: ``ROOT/train/<class>/*.{jpg,jpeg,png}`` and ``ROOT/val/<class>/...``.

This is the layout of Imagenette and of ImageNet once its validation images are sorted into class
folders (torchvision's ``ImageFolder`` layout). Class names are the sorted folder names of
``train/``; label ``i`` is the ``i``-th of them. ``val/`` holds the same class folders or a subset.
Suffixes are matched case-insensitively (ImageNet's files end in ``.JPEG``); other files and
entries whose names start with ``.`` are ignored.

:func:`scan` checks every image before training starts; an unreadable image (not an image,
truncated, or a name that cannot be opened, such as a symlink loop) is *skipped* and recorded in
``ImageFolder.skipped`` as ``(path, reason)``, not fatal.
``verify`` picks how hard it looks:

- ``"header"`` (default): Pillow opens and ``verify()``-s the file (for PNG that checks every chunk's
  CRC through ``IEND``) and a JPEG must have its end-of-image marker (``FF D9``) in its last KiB,
  which catches truncated downloads without decoding (cheap enough for ImageNet's 1.28M files);
- ``"full"``: every image is decoded (slow on large datasets, catches corrupt entropy-coded data);
- ``"none"``: the suffix alone decides.

Everything is in a deterministic, sorted order (classes, then file names).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from .errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
Verify = Literal["header", "full", "none"]
_JPEG_EOI = b"\xff\xd9"
_JPEG_TAIL = 1024
_CHUNK = 256


@dataclass(frozen=True)
class Sample:
    path: str
    label: int


@dataclass(frozen=True)
class ImageFolder:
    """A scanned dataset. ``skipped`` lists the unreadable images as ``(path, reason)``."""

    classes: tuple[str, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    skipped: tuple[tuple[str, str], ...]
    root: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def scan(
    root: str | os.PathLike[str], *, verify: Verify = "header", workers: int | None = None
) -> ImageFolder:
    """Scan the ImageFolder dataset at ``root`` (see the module docstring).

    Raises :class:`DataError` naming the folder at fault when ``root``, ``train/`` or ``val/`` is
    missing, ``train/`` has no class folders, a class folder has no (readable) images, or ``val/``
    has a class that ``train/`` lacks.
    """
    if verify not in ("header", "full", "none"):
        raise ValueError(f"verify must be 'header', 'full' or 'none', got {verify!r}")
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"{base}: dataset root does not exist or is not a folder")
    split_dirs = {}
    for split in ("train", "val"):
        d = base / split
        if not d.is_dir():
            raise DataError(f"{d}: missing {split}/ folder (expected ROOT/{split}/<class>/*.jpg|.jpeg|.png)")
        split_dirs[split] = d
    classes = _class_folders(split_dirs["train"])
    if not classes:
        raise DataError(f"{split_dirs['train']}: no class folders (expected train/<class>/<image files>)")
    val_classes = _class_folders(split_dirs["val"])
    if not val_classes:
        raise DataError(f"{split_dirs['val']}: no class folders (expected val/<class>/<image files>)")
    unknown = [c for c in val_classes if c not in classes]
    if unknown:
        shown = ", ".join(str(split_dirs["val"] / c) for c in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise DataError(f"{shown}{more}: val class folder(s) not in train/ (val classes must be a subset)")

    label_of = {c: i for i, c in enumerate(classes)}
    listed: dict[str, list[tuple[str, int]]] = {}
    for split, names in (("train", classes), ("val", val_classes)):
        entries: list[tuple[str, int]] = []
        for c in names:
            folder = split_dirs[split] / c
            files = _image_files(folder)
            if not files:
                raise DataError(f"{folder}: class folder has no images ({', '.join(IMAGE_SUFFIXES)})")
            entries += [(str(folder / f), label_of[c]) for f in files]
        listed[split] = entries

    every = [p for entries in listed.values() for p, _ in entries]
    reasons = _check_all(every, verify, workers)
    skipped = tuple((p, r) for p, r in zip(every, reasons, strict=True) if r is not None)
    bad = {p for p, _ in skipped}
    result: dict[str, tuple[Sample, ...]] = {}
    for split, entries in listed.items():
        samples = tuple(Sample(p, label) for p, label in entries if p not in bad)
        present = {s.label for s in samples}
        for p, label in entries:
            if label not in present:
                folder = Path(p).parent
                raise DataError(f"{folder}: class folder has no readable images (all skipped as corrupt)")
        result[split] = samples
    return ImageFolder(
        classes=tuple(classes), train=result["train"], val=result["val"], skipped=skipped, root=str(base)
    )


def check_image(path: str, verify: Verify = "header") -> str | None:
    """``None`` if ``path`` is a usable image under ``verify``, else the reason it is not."""
    if verify == "none":
        return None
    try:
        with Image.open(path) as img:  # (no warnings.catch_warnings here: it is not thread-safe)
            fmt = img.format
            if verify == "full":
                img.load()
            else:
                img.verify()
        if verify == "header" and fmt == "JPEG":
            with open(path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - _JPEG_TAIL))
                if _JPEG_EOI not in fh.read():
                    return "truncated JPEG (no end-of-image marker)"
    except Exception as err:  # any failure to read means "corrupt": record why
        return f"{type(err).__name__}: {err}"
    return None


def _check_all(paths: Sequence[str], verify: Verify, workers: int | None) -> list[str | None]:
    if verify == "none" or not paths:
        return [None] * len(paths)
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n <= 1:
        return [check_image(p, verify) for p in paths]
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]  # few futures for ImageNet's 1.3M
    with ThreadPoolExecutor(max_workers=n) as pool:
        done = pool.map(lambda chunk: [check_image(p, verify) for p in chunk], chunks)
        return [reason for chunk in done for reason in chunk]


def _class_folders(split_dir: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def _image_files(folder: Path) -> list[str]:
    """Image names in ``folder``; an entry that cannot even be stat-ed (a symlink loop, a permission
    error) is listed too, so that checking it skips and counts it as unreadable."""
    return sorted(
        e.name
        for e in os.scandir(folder)
        if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_SUFFIXES) and _maybe_file(e)
    )


def _maybe_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return True
