"""Small ImageFolder datasets for the tests, drawn with the builtin generator's ``render``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from effnet.training import builtin


def write_folder(root: Path, counts: dict[str, tuple[int, int]], *, size: int = 96, fmt: str = "PNG") -> Path:
    """An ImageFolder at ``root``: ``counts[class] = (n_train, n_val)`` images drawn by ``render``."""
    ext = ".png" if fmt == "PNG" else ".jpg"
    for label, (cls, (n_train, n_val)) in enumerate(sorted(counts.items())):
        shape, texture = builtin.SHAPES[label % 4], builtin.TEXTURES[(label // 4) % 2]
        for split, n in (("train", n_train), ("val", n_val)):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rng = np.random.default_rng((label, i, split == "val"))
                img = Image.fromarray(builtin.render(shape, texture, rng))
                if size != builtin.IMAGE_SIZE:
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                img.save(folder / f"img{i:03d}{ext}", fmt)
    return root
