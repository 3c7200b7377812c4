"""The input pipeline: samples -> decoded, augmented, preprocessed NHWC float32 batches.

One :class:`Pipeline` is one epoch at one progressive-learning stage. The trainer takes the stage
from ``spec.schedule`` and passes its ``image_size``, ``augment``, ``randaug_magnitude``,
``mixup_alpha`` and ``cutmix_alpha`` here; the pipeline interpolates nothing. Every :class:`Batch`
carries ``settings``, what was actually applied, so a log (or a test) can check that the schedule
was followed.

Training (``train=True``), per sample: random-resized crop to ``image_size`` (bilinear), random
horizontal flip, then ``augment``: RandAugment (``randaug_layers`` ops at ``randaug_magnitude``) or
AutoAugment policy v0 (:mod:`training.autoaugment`); then per batch: preprocessing ``x * scale +
offset`` (the model's :class:`spec.Preprocessing`), soft labels with ``label_smoothing``, and mixup
with ``mixup_alpha`` and/or CutMix with ``cutmix_alpha`` (with both, mixup on the first half of the
batch and CutMix on the second, as automl; see :mod:`training.augment`, :mod:`training.cutmix`). The
order (crop -> resize -> flip -> augment) is AUTOML-V2 ``preprocess_for_train``'s.

Evaluation (``train=False``): no shuffle, centre crop (crop_pct 0.875) resized to ``image_size``,
no augmentation and no mixing (``settings`` records magnitude 0 and alpha 0), and the last partial
batch is kept. Labels are still smoothed if ``label_smoothing`` is given (``y``); compare
``labels`` (hard, int64) for accuracy.

Determinism: the epoch's order is a permutation drawn from ``(seed, epoch)``; sample ``i``'s
augmentation RNG (of ``samples[i]``, whatever its position or shard) from ``(seed, epoch, i)``;
global batch ``b``'s mixup from ``(seed, epoch, b)``; sample ``i``'s CutMix box from ``(seed, epoch, i)``
(another stream than its augmentation). Batches are therefore identical for any
number of ``workers`` and for any ``prefetch``.

Sharding (data parallel): ``shard=(rank, world)``. The global batch is ``batch_size * world``
samples of the epoch's order; rank ``r`` gets the contiguous slice ``[r * batch_size, (r + 1) *
batch_size)`` of every global batch, so the ranks' slices are disjoint, cover the global batch, and
concatenated in rank order equal the ``world=1`` batch of size ``batch_size * world`` (exactly,
before mixup). Every rank has the same ``len()``. With ``drop_last`` (the default when training)
the incomplete last global batch is dropped; without it (evaluation) the last global batch of
``k`` samples is split as evenly as possible (rank ``r`` gets ``[r*k//world, (r+1)*k//world)``), so
a rank's last batch may be smaller than the others' or, if ``k < world``, empty. Mixup uses the
global batch's ``lam`` (the same on every rank) with partners drawn *within* each rank's slice (no
samples cross ranks), so with mixup the concatenation equals the ``world=1`` batch only in ``lam``
and in the unmixed content.

Unreadable images: a sample that cannot be decoded (e.g. a JPEG whose markers are intact but whose
data is corrupt, which ``scan``'s default check does not decode) is replaced by the next sample of
``samples`` that decodes (its image and label), and recorded in ``undecodable`` (path -> reason); the
epoch goes on. Only when ``MAX_SUBSTITUTES`` samples in a row cannot be decoded is it a
:class:`DataError`.

Parallelism: decoding and augmentation of each sample run in a ``concurrent.futures`` thread pool
(Pillow releases the GIL in decode, resize and transform), ``workers`` threads (default
``os.cpu_count()``; 0 runs everything in the calling thread), ``prefetch`` batches ahead. JPEGs are
decoded at a reduced DCT scale (Pillow ``draft``) when the crop is at least twice the output size:
the same picture up to resampling, decoded faster (e.g. 500x375 photos evaluated at 128 px: about
1.3x).
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from effnet.spec import ModelSpec, Preprocessing, Stage
from effnet.spec.recipe import Recipe

from .augment import (
    MAX_MAGNITUDE,
    RESAMPLE,
    center_crop_box,
    mixup,
    rand_augment,
    random_flip,
    random_resized_crop_box,
    soft_labels,
)
from .autoaugment import auto_augment
from .cutmix import cutmix, cutmix_box, split_for_mixing
from .dataset import Sample
from .errors import DataError, one_line

MAX_SUBSTITUTES = 16  # undecodable samples in a row before an epoch gives up
# stream tags keep the RNG streams of shuffling, per-sample augmentation and mixup independent
_SHUFFLE, _SAMPLE, _MIX, _CUT = 0x5EED, 0xA116, 0x313C, 0xC07
AUGMENTS = ("randaugment", "autoaugment")


@dataclass(frozen=True)
class Batch:
    x: np.ndarray  # (B, image_size, image_size, 3) float32, preprocessed
    y: np.ndarray  # (B, num_classes) float32 soft labels (smoothed, mixed); rows sum to 1
    labels: np.ndarray  # (B,) int64 hard labels (before mixing)
    settings: dict[str, Any] = field(default_factory=dict)  # what was applied to this batch


class Pipeline:
    """One epoch of batches over ``samples``; see the module docstring. ``len()`` = number of batches."""

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        num_classes: int,
        image_size: int,
        batch_size: int,
        preprocessing: Preprocessing,
        train: bool,
        randaug_magnitude: float = 0.0,
        randaug_layers: int = 2,
        mixup_alpha: float = 0.0,
        label_smoothing: float = 0.0,
        augment: str = "randaugment",
        cutmix_alpha: float = 0.0,
        seed: int = 0,
        epoch: int = 0,
        workers: int | None = None,
        shard: tuple[int, int] = (0, 1),
        drop_last: bool | None = None,
        crop_pct: float = 0.875,
        prefetch: int = 2,
    ) -> None:
        rank, world = shard
        checks = [
            (num_classes >= 1, f"num_classes must be >= 1, got {num_classes}"),
            (image_size >= 1, f"image_size must be >= 1, got {image_size}"),
            (batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"),
            (
                world >= 1 and 0 <= rank < world,
                f"shard must be (rank, world) with 0 <= rank < world, got {shard}",
            ),
            (randaug_layers >= 0, f"randaug_layers must be >= 0, got {randaug_layers}"),
            (
                0 <= randaug_magnitude <= MAX_MAGNITUDE,
                f"randaug_magnitude must be in [0, {MAX_MAGNITUDE:g}], got {randaug_magnitude}",
            ),
            (mixup_alpha >= 0, f"mixup_alpha must be >= 0, got {mixup_alpha}"),
            (cutmix_alpha >= 0, f"cutmix_alpha must be >= 0, got {cutmix_alpha}"),
            (augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}"),
            (0 <= label_smoothing < 1, f"label_smoothing must be in [0, 1), got {label_smoothing}"),
            (seed >= 0 and epoch >= 0, f"seed and epoch must be >= 0, got {seed}, {epoch}"),
            (workers is None or workers >= 0, f"workers must be >= 0, got {workers}"),
            (prefetch >= 1, f"prefetch must be >= 1, got {prefetch}"),
            (0 < crop_pct <= 1, f"crop_pct must be in (0, 1], got {crop_pct}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        self.samples = tuple(samples)
        bad = [s for s in self.samples if not 0 <= s.label < num_classes]
        if bad:
            raise DataError(
                f"{bad[0].path}: label {bad[0].label} outside [0, {num_classes}) ({len(bad)} such)"
            )
        self.num_classes, self.image_size, self.batch_size = num_classes, image_size, batch_size
        self.train = train
        self.randaug_magnitude = float(randaug_magnitude) if train else 0.0
        self.randaug_layers = randaug_layers if train else 0
        self.mixup_alpha = float(mixup_alpha) if train else 0.0
        self.cutmix_alpha = float(cutmix_alpha) if train else 0.0
        self.augment = augment if train else "none"
        self.label_smoothing = float(label_smoothing)
        self.seed, self.epoch = seed, epoch
        self.rank, self.world = rank, world
        self.drop_last = train if drop_last is None else drop_last
        self.crop_pct = crop_pct
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.prefetch = prefetch
        self.undecodable: dict[str, str] = {}  # path -> reason, for the samples replaced so far
        self._lock = threading.Lock()
        self._scale = np.asarray(preprocessing.scale, dtype=np.float32)
        self._offset = np.asarray(preprocessing.offset, dtype=np.float32)
        # scale and offset repeated along a whole image row (size x 3 values), so that numpy's inner
        # loop runs over a row rather than over 3 channels: the same float32 products and sums, ~3x faster
        self._row_scale = np.tile(self._scale, image_size)
        self._row_offset = np.tile(self._offset, image_size)
        n, g = len(self.samples), batch_size * world
        self._batches = n // g if self.drop_last else math.ceil(n / g)
        if self._batches == 0 and n > 0:
            raise DataError(
                f"{n} samples make no full global batch of {g} (batch_size {batch_size} x world {world}) "
                "with drop_last; use a smaller batch or drop_last=False"
            )

    @classmethod
    def for_stage(
        cls,
        samples: Sequence[Sample],
        stage: Stage,
        *,
        model: ModelSpec,
        recipe: Recipe,
        num_classes: int,
        batch_size: int,
        image_size: int | None = None,
        **options: Any,
    ) -> Pipeline:
        """The training pipeline of one progressive-learning stage, as ``effnet train`` builds it:
        the stage's image size (unless ``image_size``), augmentation, RandAugment magnitude, mixup and
        CutMix; the recipe's RandAugment layers and label smoothing; the model's preprocessing.
        ``options``: the other keywords (``seed``, ``epoch``, ``workers``, ``shard``, ...)."""
        return cls(
            samples,
            num_classes=num_classes,
            image_size=stage.image_size if image_size is None else image_size,
            batch_size=batch_size,
            preprocessing=model.preprocessing,
            train=True,
            randaug_magnitude=stage.randaug_magnitude,
            randaug_layers=recipe.randaug_layers,
            mixup_alpha=stage.mixup_alpha,
            label_smoothing=recipe.label_smoothing,
            augment=stage.augment,
            cutmix_alpha=stage.cutmix_alpha,
            **options,
        )

    def __len__(self) -> int:
        return self._batches

    @property
    def settings(self) -> dict[str, Any]:
        """What this pipeline applies to every batch (each :class:`Batch` adds its own details)."""
        return {
            "image_size": self.image_size,
            "augment": self.augment,
            "randaug_magnitude": self.randaug_magnitude,
            "randaug_layers": self.randaug_layers,
            "mixup_alpha": self.mixup_alpha,
            "cutmix_alpha": self.cutmix_alpha,
            "label_smoothing": self.label_smoothing,
            "train": self.train,
            "seed": self.seed,
            "epoch": self.epoch,
            "shard": (self.rank, self.world),
            "crop": "random_resized" if self.train else f"center {self.crop_pct:g}",
        }

    def order(self) -> np.ndarray:
        """The epoch's order (indices into ``samples``), shuffled by ``(seed, epoch)`` when training."""
        n = len(self.samples)
        if not self.train:
            return np.arange(n)
        return np.random.default_rng((self.seed, self.epoch, _SHUFFLE)).permutation(n)

    def indices(self) -> list[np.ndarray]:
        """This rank's sample indices for each batch of the epoch."""
        order, g = self.order(), self.batch_size * self.world
        out = []
        for b in range(self._batches):
            chunk = order[b * g : (b + 1) * g]
            k = len(chunk)
            out.append(chunk[self.rank * k // self.world : (self.rank + 1) * k // self.world])
        return out

    def __iter__(self) -> Iterator[Batch]:
        plan = self.indices()
        if self.workers == 0:
            for b, idx in enumerate(plan):
                x = self._empty(len(idx))
                used = np.array([self._fill(x, slot, int(i)) for slot, i in enumerate(idx)], dtype=np.int64)
                yield self._finish(b, used, x)
            return
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="effnet-data")
        pending: deque[tuple[int, np.ndarray, np.ndarray, list[Future[int]]]] = deque()

        def submit(b: int) -> None:
            idx = plan[b]
            x = self._empty(len(idx))
            pending.append(
                (b, idx, x, [pool.submit(self._fill, x, slot, int(i)) for slot, i in enumerate(idx)])
            )

        try:
            for b in range(min(self.prefetch, len(plan))):
                submit(b)
            following = len(pending)
            while pending:
                b, idx, x, futures = pending.popleft()
                used = np.array([fut.result() for fut in futures], dtype=np.int64)
                if following < len(plan):
                    submit(following)
                    following += 1
                yield self._finish(b, used, x)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # --- per sample (runs in the pool) ---

    def _empty(self, n: int) -> np.ndarray:
        return np.empty((n, self.image_size, self.image_size, 3), dtype=np.float32)

    def _fill(self, x: np.ndarray, slot: int, index: int) -> int:
        """Decode sample ``index`` (or, if it cannot be decoded, the next one that can) into
        ``x[slot]``; returns the index of the sample used."""
        first: DataError | None = None
        for k in range(min(MAX_SUBSTITUTES, len(self.samples))):
            used = (index + k) % len(self.samples)
            try:
                image = self.load(used)
            except DataError as err:
                first = first or err
                with self._lock:
                    self.undecodable[self.samples[used].path] = one_line(err.__cause__ or err)
                continue
            self._preprocess(np.asarray(image), x[slot])
            return used
        if first is None:  # (no samples: __iter__ plans no batch then)
            raise DataError("no samples to decode")
        if len(self.samples) > 1:
            raise DataError(f"{first} (and the {k} following sample(s) cannot be decoded either)") from first
        raise first

    def _preprocess(self, pixels: np.ndarray, out: np.ndarray) -> None:
        """``out[...] = pixels * scale + offset`` in float32; ``pixels``: uint8, size x size x 3."""
        rows = out.reshape(self.image_size, -1)  # a view: ``out`` is one C-contiguous image of the batch
        np.multiply(pixels.reshape(self.image_size, -1), self._row_scale, out=rows, dtype=np.float32)
        np.add(rows, self._row_offset, out=rows)

    def load(self, index: int) -> Image.Image:
        """Sample ``index`` decoded and transformed (RGB, ``image_size`` square), before preprocessing."""
        path = self.samples[index].path
        size = self.image_size
        try:
            with Image.open(path) as img:
                w, h = img.size
                if self.train:
                    rng = np.random.default_rng((self.seed, self.epoch, index, _SAMPLE))
                    box: tuple[float, ...] = random_resized_crop_box(w, h, rng)
                else:
                    box, _, _ = center_crop_box(w, h, size, self.crop_pct)
                box = _draft(img, box, size)
                out = _rgb(img).resize((size, size), RESAMPLE, box=box)
        except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError) as err:
            raise DataError(
                f"{path}: cannot decode image ({type(err).__name__}: {err}); "
                "scan(..., verify='full') finds and skips such files before training"
            ) from err
        if self.train:
            out = random_flip(out, rng)
            if self.augment == "autoaugment":
                out = auto_augment(out, rng)
            else:
                out = rand_augment(out, self.randaug_layers, self.randaug_magnitude, rng)
        return out

    # --- per batch ---

    def _finish(self, b: int, idx: np.ndarray, x: np.ndarray) -> Batch:
        labels = np.fromiter((self.samples[int(i)].label for i in idx), dtype=np.int64, count=len(idx))
        y = soft_labels(labels, self.num_classes, self.label_smoothing)
        lam, areas = 1.0, np.zeros(0)
        mix, cut = split_for_mixing(len(idx), self.mixup_alpha, self.cutmix_alpha)
        if mix.stop > mix.start:
            # lam is the global batch's (shared by all ranks); partners are drawn within this rank's slice
            lam_rng = np.random.default_rng((self.seed, self.epoch, b, _MIX))
            lam = float(lam_rng.beta(self.mixup_alpha, self.mixup_alpha))
            perm_rng = np.random.default_rng((self.seed, self.epoch, b, _MIX, self.rank, self.world))
            x[mix], y[mix], lam = mixup(x[mix], y[mix], self.mixup_alpha, perm_rng, lam=lam)
        if cut.stop > cut.start:
            size = self.image_size
            boxes = [
                cutmix_box(
                    size,
                    size,
                    self.cutmix_alpha,
                    np.random.default_rng((self.seed, self.epoch, int(i), _CUT)),
                )
                for i in idx[cut]
            ]
            perm_rng = np.random.default_rng((self.seed, self.epoch, b, _CUT, self.rank, self.world))
            x[cut], y[cut], areas = cutmix(x[cut], y[cut], boxes, perm_rng.permutation(cut.stop - cut.start))
        settings = {
            **self.settings,
            "batch_index": b,
            "mixup_lambda": lam,
            "mixup_rows": mix.stop - mix.start,
            "cutmix_areas": [round(float(a), 6) for a in areas],
        }
        return Batch(x=x, y=y, labels=labels, settings=settings)


def _rgb(img: Image.Image) -> Image.Image:
    """RGB, as torchvision's loader (``convert("RGB")``; alpha dropped). A palette image with
    transparency goes through RGBA, which Pillow asks for instead of warning."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def _draft(img: Image.Image, box: tuple[float, ...], size: int) -> tuple[float, ...]:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale when ``box`` is still >= ``size`` there; the box
    in the (possibly) reduced image's coordinates."""
    if img.format != "JPEG":
        return box
    reduce = min(box[2] - box[0], box[3] - box[1]) / size
    if reduce < 2:
        return box
    w, h = img.size
    img.draft("RGB", (math.ceil(w / reduce), math.ceil(h / reduce)))
    sx, sy = img.size[0] / w, img.size[1] / h
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
