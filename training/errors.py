"""The training package's exception types, each a ``ValueError`` that ``effnet`` prints as one line.

- :class:`DataError`: a dataset that cannot be used as it is. Every message names the folder or file
  at fault, e.g. ``/data/imagenette/train/n01440764: class folder has no images (.jpg, .jpeg, .png)``.
- :class:`TrainError`: a run that cannot start or go on as asked (an ``--out`` that is not a writable
  folder, a loss that is no longer finite, a batch that does not split over the replicas).
- :class:`ResumeError`: a run folder that cannot be resumed or would be overwritten (see
  ``training.resume``).
"""

from __future__ import annotations

import re

from effnet.errors import ResumeError, TrainError  # shared with the backends' engines

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colours some libraries put in messages


class DataError(ValueError):
    """A missing or malformed dataset folder, an empty class, or an unreadable image."""


__all__ = ["DataError", "ResumeError", "TrainError", "one_line"]


def one_line(err: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = _ANSI.sub("", str(err)).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__
