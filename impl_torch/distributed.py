"""Data parallel for the torch trainer: DDP under ``torchrun`` with cross-replica batch norm.

``torchrun --nproc-per-node N -m effnet train --backend torch ...`` (or several nodes with
``--nnodes``/``--rdzv-endpoint``) sets ``RANK``/``WORLD_SIZE``; :func:`process_group` then joins the
group (gloo on CPU, NCCL on CUDA). Each process feeds its shard of the global batch; DDP averages
the gradients. Batch-norm statistics are computed over the *global* batch
(:class:`CrossReplicaBatchNorm2d`), as the automl trainer's cross-replica BN does, so N processes
compute what one process computes on the same global batch. (torch's own ``SyncBatchNorm`` refuses
CPU tensors, so this one all-reduces with the differentiable ``torch.distributed.nn`` collectives,
which work on every backend.)
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn

from .batch_norm import SpecBatchNorm2d


def process_group() -> tuple[int, int]:
    """(rank, world size), joining the default process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


class CrossReplicaBatchNorm2d(SpecBatchNorm2d):
    """Batch norm whose training statistics are those of the global batch (all ranks).

    The same parameters, buffers and state-dict keys as ``nn.BatchNorm2d``; eval mode and a single
    process behave exactly like :class:`SpecBatchNorm2d`. In training the mean and then the biased
    variance are all-reduced (two passes: no ``E[x^2] - E[x]^2`` cancellation), and the running
    variance folds in the biased one, as the spec does and one process with the whole batch would.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        local_n = x.numel() // x.shape[1]
        n = local_n * dist.get_world_size()  # every rank feeds the same per-rank batch
        mean = funcol.all_reduce(x.sum(dim=(0, 2, 3)), "sum", dist.group.WORLD) / n
        centred = x - mean[None, :, None, None]
        var = funcol.all_reduce(centred.square().sum(dim=(0, 2, 3)), "sum", dist.group.WORLD) / n
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach(), alpha=m)
            self.num_batches_tracked.add_(1)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return centred * scale[None, :, None, None] + self.bias[None, :, None, None]


def cross_replica_batch_norm(model: nn.Module) -> nn.Module:
    """Swap every ``nn.BatchNorm2d`` of ``model`` for :class:`CrossReplicaBatchNorm2d` in place
    (same tensors, so weights, optimizer and checkpoints are unaffected)."""
    for module in model.modules():
        if type(module) in (nn.BatchNorm2d, SpecBatchNorm2d):
            module.__class__ = CrossReplicaBatchNorm2d
    return model


def all_sum(values: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(values)
    return values
