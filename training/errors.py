"""The input pipeline's one exception type: a dataset that cannot be used as it is.

Every message names the folder or file at fault, e.g.
``/data/imagenette/train/n01440764: class folder has no images (.jpg, .jpeg, .png)``.
"""

from __future__ import annotations


class DataError(ValueError):
    """A missing or malformed dataset folder, an empty class, or an unreadable image."""
