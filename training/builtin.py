"""``--data builtin``: a small ImageFolder dataset drawn deterministically, offline, and cached.

Eight classes = coarse shape {disc, ring, square, triangle} x fine texture {stripes, checks}. Each
160x160 image has a random background (colour, gradient, pixel noise) and one shape at a random
position, size and rotation, filled with a two-colour texture of period 4-6 px at a random angle.
The shape survives heavy downsampling; the texture does not (below about 2 px per period stripes
and checks both blur to the same average colour), so a model needs resolution to tell all eight
classes apart: accuracy at small image sizes is capped near 50% on the texture half of the label.

Files are JPEG, quality 95, 4:4:4 chroma (no subsampling, so the fine colour texture survives);
``TRAIN_PER_CLASS`` + ``VAL_PER_CLASS`` images per class. Every image is drawn from its own
``numpy.random.default_rng((VERSION, split, class, index))``: the pixels are the same on every run
of the same ``VERSION``, and so are the bytes with the same Pillow/libjpeg build. Bump ``VERSION``
when anything about the content changes; it is part of the cache path.

Caching is atomic: the dataset is generated into a temporary folder beside the target, a
``COMPLETE`` marker is written last, and the folder is renamed into place. A folder without a valid
marker (an interrupted or foreign write) is never trusted; it is replaced. Concurrent callers
serialise on an ``flock`` beside the target (``.builtin-v<VERSION>.lock``): the first generates, the
others wait and then find the complete copy. Temporary folders left by killed runs are removed after
an hour.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

VERSION = 1
NAME = f"builtin-v{VERSION}"
MARKER = "COMPLETE"
IMAGE_SIZE = 160
TRAIN_PER_CLASS = 300
VAL_PER_CLASS = 50
SHAPES = ("disc", "ring", "square", "triangle")
TEXTURES = ("checks", "stripes")
CLASSES = tuple(f"{s}_{t}" for s in SHAPES for t in TEXTURES)  # already sorted: label i = CLASSES[i]
JPEG_OPTIONS = {"quality": 95, "subsampling": 0}
_STALE_TMP_S = 3600.0  # temporary folders older than this are leftovers of killed runs


def default_cache_root() -> Path:
    """``$EFFNET_CACHE``, else ``$XDG_CACHE_HOME/effnet-spec``, else ``~/.cache/effnet-spec``."""
    if os.environ.get("EFFNET_CACHE"):
        return Path(os.environ["EFFNET_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "effnet-spec"


def data_root(data: str | os.PathLike[str]) -> Path:
    """The ImageFolder root that a ``--data`` value names: ``"builtin"`` is this dataset (generated
    and cached if needed), anything else a folder path."""
    return ensure_builtin() if str(data) == "builtin" else Path(data)


def ensure_builtin(cache_dir: str | os.PathLike[str] | None = None, *, workers: int | None = None) -> Path:
    """The builtin dataset's ImageFolder root, ``<cache_dir>/builtin-v<VERSION>``, generated if needed.

    ``cache_dir`` defaults to :func:`default_cache_root`. Returns at once when a complete copy is
    there; otherwise generates one (a few seconds to tens of seconds) and moves it into place.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    target = root / NAME
    if is_complete(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{NAME}.lock"):  # concurrent callers wait here for the first one
        if is_complete(target):
            return target
        _remove_stale_tmp(root)
        tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}.tmp-", dir=root))
        try:
            generate(tmp, workers=workers)
            tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
            if target.exists():  # an incomplete or foreign folder: move it aside, never trust it
                trash = Path(tempfile.mkdtemp(prefix=f".{NAME}.stale-", dir=root))
                with contextlib.suppress(FileNotFoundError):
                    os.replace(target, trash / "old")
                shutil.rmtree(trash, ignore_errors=True)
            try:
                os.replace(tmp, target)
            except OSError:  # without a lock (no fcntl) a concurrent run may have renamed first
                if not is_complete(target):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (released by the OS if the process dies); no-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # Windows: generation stays atomic, concurrent callers just duplicate work
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished builtin dataset of this ``VERSION`` (its marker says so)."""
    try:
        meta = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    expected = {
        "version": VERSION,
        "classes": list(CLASSES),
        "train_per_class": TRAIN_PER_CLASS,
        "val_per_class": VAL_PER_CLASS,
    }
    return isinstance(meta, dict) and all(meta.get(k) == v for k, v in expected.items())


def generate(dest: Path, *, workers: int | None = None) -> dict[str, object]:
    """Write the whole dataset into the (new or empty) folder ``dest``; the marker goes last.

    Returns the marker's contents plus ``generation_s`` (wall time; not written, so that the
    folder's bytes are the same on every run)."""
    started = time.perf_counter()
    jobs = []
    splits = (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS))
    for split_index, (split, count) in enumerate(splits):
        for label, name in enumerate(CLASSES):
            folder = dest / split / name
            folder.mkdir(parents=True, exist_ok=True)
            jobs += [(folder / f"{i:04d}.jpg", split_index, label, i) for i in range(count)]
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n <= 1:
        for job in jobs:
            _write_one(*job)
    else:
        with ThreadPoolExecutor(max_workers=n) as pool:
            list(pool.map(lambda job: _write_one(*job), jobs))
    meta: dict[str, object] = {
        "version": VERSION,
        "classes": list(CLASSES),
        "image_size": IMAGE_SIZE,
        "train_per_class": TRAIN_PER_CLASS,
        "val_per_class": VAL_PER_CLASS,
        "format": {"type": "JPEG", **JPEG_OPTIONS},
    }
    (dest / MARKER).write_text(json.dumps(meta, indent=1) + "\n")
    return {**meta, "generation_s": round(time.perf_counter() - started, 3)}


def _write_one(path: Path, split_index: int, label: int, index: int) -> None:
    rng = np.random.default_rng((VERSION, split_index, label, index))
    shape, texture = divmod(label, len(TEXTURES))
    Image.fromarray(render(SHAPES[shape], TEXTURES[texture], rng)).save(path, "JPEG", **JPEG_OPTIONS)


_GRID = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) + 0.5  # pixel centres (y, x)


def render(shape: str, texture: str, rng: np.random.Generator) -> np.ndarray:
    """One ``IMAGE_SIZE`` x ``IMAGE_SIZE`` RGB uint8 image of ``shape`` filled with ``texture``."""
    if shape not in SHAPES or texture not in TEXTURES:
        raise ValueError(f"unknown shape/texture {shape!r}/{texture!r}; shapes {SHAPES}, textures {TEXTURES}")
    n = IMAGE_SIZE
    yy, xx = _GRID
    # background: colour + linear gradient + luminance and colour noise
    base = rng.uniform(40.0, 215.0, 3).astype(np.float32)
    grad = rng.uniform(-40.0, 40.0, (2, 3)).astype(np.float32)
    img = base + (xx[..., None] / n - 0.5) * grad[0] + (yy[..., None] / n - 0.5) * grad[1]
    img += 6.0 * rng.standard_normal((n, n, 1), dtype=np.float32)
    img += 3.0 * rng.standard_normal((n, n, 3), dtype=np.float32)
    # shape: signed distance (negative inside), anti-aliased over one pixel
    r = float(rng.uniform(30.0, 62.0))
    cx, cy = rng.uniform(r, n - r, 2)
    theta = float(rng.uniform(0.0, 2.0 * math.pi))
    dx, dy = xx - np.float32(cx), yy - np.float32(cy)
    if shape in ("disc", "ring"):
        d = np.hypot(dx, dy)
        sd = d - r if shape == "disc" else np.abs(d - 0.75 * r) - 0.25 * r
    elif shape == "square":
        u = dx * math.cos(theta) + dy * math.sin(theta)
        v = -dx * math.sin(theta) + dy * math.cos(theta)
        sd = np.maximum(np.abs(u), np.abs(v)) - 0.8 * r
    else:  # equilateral triangle: the intersection of three half-planes
        sd = np.full_like(dx, -np.inf)
        for k in range(3):
            a = theta + 2.0 * math.pi * k / 3.0
            sd = np.maximum(sd, dx * math.cos(a) + dy * math.sin(a) - 0.5 * r)
    inside = np.clip(0.5 - sd, 0.0, 1.0)[..., None]
    # texture: period 4-6 px at a random angle and phase, two contrasting colours
    period = float(rng.uniform(4.0, 6.0))
    phase = rng.uniform(0.0, 2.0 * math.pi, 2)
    alpha = float(rng.uniform(0.0, math.pi))
    s = xx * math.cos(alpha) + yy * math.sin(alpha)
    t = -xx * math.sin(alpha) + yy * math.cos(alpha)
    wave = np.sin(2.0 * math.pi * s / period + phase[0])
    if texture == "checks":
        wave = wave * np.sin(2.0 * math.pi * t / period + phase[1])
    mix = (np.clip(2.5 * wave, -1.0, 1.0) * 0.5 + 0.5)[..., None]
    dark = rng.uniform(0.0, 100.0, 3).astype(np.float32)  # every channel differs by >= 55 levels
    light = rng.uniform(155.0, 255.0, 3).astype(np.float32)
    c1, c2 = (dark, light) if rng.random() < 0.5 else (light, dark)
    fg = c1 + (c2 - c1) * mix
    img = img * (1.0 - inside) + fg * inside
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _remove_stale_tmp(root: Path) -> None:
    now = time.time()
    for entry in root.glob(f".{NAME}.*-*"):
        try:
            if now - entry.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass
