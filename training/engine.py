"""What each backend's trainer provides to the framework-neutral loop (``training.loop``).

Engines live beside their models (each backend's ``engine`` row in ``effnet.backends`` says where)
and use their framework's own tools (torch.optim, optax, keras.optimizers).
Arrays cross the boundary as numpy: images NHWC float32 (already preprocessed), soft labels (B, C).

Data parallel: ``--batch-size`` is the global batch. An engine replicates over ``devices`` local
devices (JAX sharding, ``tf.distribute.MirroredStrategy``) and/or over processes (torch DDP under
``torchrun``, ``jax.distributed``, ``MultiWorkerMirroredStrategy``). ``process = (rank, count)``
tells the loop which shard of each global batch this process feeds (``batch / count`` samples);
``train_step`` returns the loss and accuracy of the whole global batch, identical on every process,
and batch-norm statistics are computed over the global batch (synchronised across replicas, as the
automl trainer's cross-replica BN), so N replicas compute what one replica computes on the same
global batch. Only process 0 writes files.

Execution (``effnet.execution``): precision, memory format and compilation are asked for with an
``Execution``; each engine fills what is not asked with its device's defaults and keeps the result
as ``execution``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from effnet import backends
from effnet.execution import Execution
from effnet.spec import ModelSpec
from effnet.spec.recipe import Recipe


class Engine(Protocol):
    name: str
    process: tuple[int, int]  # (this process's rank, number of processes)
    replicas: int  # data-parallel replicas in all (devices x processes)
    execution: Execution  # what the step runs with (resolved: the device's defaults filled in)

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        """Elementwise sum over processes (the identity for one process)."""

    def set_dropout(self, rate: float) -> None:
        """The stage's dropout rate, applied to the built model (no rebuild)."""

    def observed(self) -> dict[str, float]:
        """Regularisation as the model actually holds it now (for the schedule log and tests)."""

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        """One optimizer step on this process's shard of the global batch; returns the global batch's
        (mean loss, accuracy against argmax of ``y``)."""

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Logits of the EMA weights in eval mode."""

    def save(self, directory: Path) -> None:
        """Everything needed to resume exactly: weights, optimizer state, EMA, RNG, step."""

    def load(self, directory: Path) -> None: ...

    def canonical_weights(self) -> dict[str, np.ndarray]:
        """The EMA weights as canonical arrays."""


def create(
    backend: str,
    ms: ModelSpec,
    recipe: Recipe,
    seed: int,
    devices: int | None = None,
    execution: Execution | None = None,
) -> Engine:
    """``devices``: local devices to replicate over (default: all local accelerators, else one CPU;
    on a CPU-only host ``n`` splits the CPU into ``n`` logical devices, for JAX and TF).
    ``execution``: precision, memory format, compilation (``None`` fields: the device's defaults)."""
    (execution or Execution()).check(backend)  # before the framework is imported
    create_engine = backends.provide(backend, "engine")  # UnknownBackend, BackendUnavailable
    return create_engine(ms, recipe, seed, devices=devices, execution=execution)
