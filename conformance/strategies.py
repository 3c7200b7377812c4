"""Hypothesis strategies: small valid architectures (from ``architectures.CHOICES``) and inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from .architectures import CHOICES, document, stage_row


@st.composite
def architectures(draw: st.DrawFn) -> dict[str, Any]:
    """Hypothesis strategy: a family document for one small architecture."""

    def pick(key: str) -> Any:
        return draw(st.sampled_from(CHOICES[key]))

    choice = {k: pick(k) for k in ("padding", "bn_eps", "bn_decay", "head", "classes")}
    choice["stem"] = pick("channels")
    choice["stage_rows"] = [stage_row(pick) for _ in range(pick("stages"))]
    return document(choice)


@st.composite
def inputs(draw: st.DrawFn) -> np.ndarray:
    """NHWC batches: batch 1-3, odd and non-square sizes from 17 px."""
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(17, 41)), draw(st.integers(17, 41))
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).standard_normal((n, h, w, 3)).astype(np.float32)
