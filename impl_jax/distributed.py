"""Data parallel for the JAX trainer: one mesh axis ``data`` over every device of the run.

- One process, several local devices (GPUs, or ``--devices N`` on a CPU host, which sets
  ``jax_num_cpu_devices`` = ``--xla_force_host_platform_device_count``): the global batch is sharded
  over the devices and the model state replicated; XLA partitions the one jitted step, so the
  batch-norm statistics and the loss are those of the global batch (its collectives are inserted by
  the compiler, nothing is averaged by hand).
- Several processes (the way past one machine): ``jax.distributed.initialize`` with
  ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``
  in the environment (or a cluster JAX detects itself: SLURM, Open MPI, Kubernetes). Each process
  feeds its shard of the global batch; the mesh spans every process's devices.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax._src import xla_bridge
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from effnet.errors import TrainError

ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def configure(devices: int | None) -> None:
    """Split a CPU host into ``devices`` logical devices and join a multi-process run if the
    environment describes one. Must run before JAX initialises its backends."""
    if devices is not None and devices > 1:
        if not xla_bridge.backends_are_initialized():
            jax.config.update("jax_num_cpu_devices", devices)  # CPU only; accelerators are what they are
        elif len(jax.local_devices()) < devices:
            raise RuntimeError(
                f"cannot use {devices} devices: JAX is already initialised with "
                f"{len(jax.local_devices())}; on a CPU host set "
                f"XLA_FLAGS=--xla_force_host_platform_device_count={devices} before starting"
            )
    if os.environ.get(ENV[0]) and not jax.distributed.is_initialized():
        missing = [name for name in ENV if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"multi-process JAX needs {', '.join(ENV)}; missing {', '.join(missing)}")
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=os.environ[ENV[0]],
            num_processes=int(os.environ[ENV[1]]),
            process_id=int(os.environ[ENV[2]]),
        )


class DataParallel:
    """The mesh of a run and the conversions between process-local numpy and global arrays."""

    def __init__(self, devices: int | None) -> None:
        if jax.process_count() > 1:
            chosen = jax.devices()  # every device of every process
        else:
            local = jax.local_devices()
            if devices is not None and devices > len(local):
                raise TrainError(f"--devices {devices}: only {len(local)} local device(s) here")
            chosen = local[: devices or 1] if local[0].platform == "cpu" else local[: devices or len(local)]
        self.mesh = Mesh(np.array(chosen), ("data",))
        self.process = (jax.process_index(), jax.process_count())
        self.replicas = self.mesh.size
        self.replicated = NamedSharding(self.mesh, P())

    def replicate(self, tree: Any) -> Any:
        """The same value (equal on every process) on every device of the mesh."""
        if self.process[1] == 1:
            return jax.device_put(tree, self.replicated)
        return multihost_utils.host_local_array_to_global_array(tree, self.mesh, P())

    def batch(self, local: np.ndarray) -> jax.Array:
        """This process's rows of the global batch -> the global batch, sharded over ``data``."""
        per_process = self.replicas // self.process[1]
        if len(local) % per_process:
            raise ValueError(f"a batch of {len(local)} does not split over {per_process} local devices")
        return multihost_utils.host_local_array_to_global_array(local, self.mesh, P("data"))

    def local(self, global_array: jax.Array) -> np.ndarray:
        """The rows of a batch-sharded global array that belong to this process."""
        return np.asarray(
            multihost_utils.global_array_to_host_local_array(global_array, self.mesh, P("data"))
        )

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        if self.process[1] == 1:
            return values
        return np.asarray(multihost_utils.process_allgather(values)).sum(axis=0)
