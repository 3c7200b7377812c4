"""Weights between backends and formats, hub and spoke: every adapter maps to or from the canonical
``{name: np.ndarray}`` state defined in ``spec.canonical``; layout knowledge lives in ``layouts``."""

from .canonical_io import CanonicalFile, load_canonical, save_canonical
from .errors import WeightsError

__all__ = ["CanonicalFile", "WeightsError", "load_canonical", "save_canonical"]
