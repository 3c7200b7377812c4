"""Batch norm that updates its running variance as the spec does.

``nn.BatchNorm2d`` folds the *unbiased* batch variance (``n / (n - 1)`` times the biased one, ``n`` the
values per channel) into ``running_var``; the spec, like TF/Keras and Flax, folds in the biased one
(``spec/reference.py``). The difference is ``1 / (n - 1)`` of the batch's share: 0.2% of it at batch 8
on an 8x8 map. The normalisation itself (biased variance in both) and eval mode are the same.

The kernel stays torch's; :class:`SpecBatchNorm2d` lets it update a copy of ``running_var`` and stores
``new * (1 - 1/n) + (1 - m) * old / n``, which turns torch's ``(1 - m) * old + m * v * n/(n-1)`` into
the spec's ``(1 - m) * old + m * v``. Same parameters, buffers and state-dict keys as ``nn.BatchNorm2d``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SpecBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.track_running_stats and self.momentum is not None):
            return super().forward(x)
        self._check_input_dim(x)
        assert self.num_batches_tracked is not None and self.running_var is not None
        self.num_batches_tracked.add_(1)
        m = self.momentum
        # torch's kernel updates a copy: autograd keeps the variance it was given for the backward
        updated = self.running_var.detach().clone()
        y = F.batch_norm(x, self.running_mean, updated, self.weight, self.bias, True, m, self.eps)
        n = x.numel() // x.shape[1]
        with torch.no_grad():
            self.running_var.mul_((1.0 - m) / n).add_(updated, alpha=1.0 - 1.0 / n)
        return y


def use_spec_batch_norm(model: nn.Module) -> nn.Module:
    """Make every plain ``nn.BatchNorm2d`` of ``model`` a :class:`SpecBatchNorm2d`, in place (the same
    tensors: weights, optimizer state and checkpoints are unaffected)."""
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = SpecBatchNorm2d
    return model
