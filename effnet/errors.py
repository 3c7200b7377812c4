"""Errors raised below the training loop (by the backends' training engines) and above it (by the
loop and the resume logic): one definition for both layers, each a ``ValueError`` that ``effnet``
prints as one line."""


class TrainError(ValueError):
    """A training run that cannot start or continue as configured (an ``--out`` that is not a
    writable folder, a loss that is no longer finite, a batch that does not split over the replicas)."""


class ResumeError(TrainError):
    """A checkpoint or run folder that cannot be resumed, or that a new run would overwrite."""
