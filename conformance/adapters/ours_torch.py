"""The conformance-suite adapter for the torch backend (see ``conformance.backends.Adapter``).

Running variance: torch updates it with the *unbiased* batch variance, the spec (TF/Keras/Flax)
with the biased one. After every train-mode forward this adapter rewrites each BN's running
variance into the spec's convention: ``var_spec = var_torch - (var_torch - decay * var_old) / n``,
n being the number of values per channel in that batch (torch's n / (n - 1) factor undone).
The torch model itself keeps torch's native semantics, as torch users expect.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from effnet.impl_torch.build import canonical_state, from_spec, load_canonical_state
from effnet.impl_torch.model import EfficientNet
from effnet.spec import ModelSpec
from effnet.weights_convert.formats import FORMATS, to_canonical

from ..backends import StepResult, Weights


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 3, 1, 2)))


def _nhwc(t: torch.Tensor) -> np.ndarray:
    a = t.detach().numpy()
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


class TorchAdapter:
    name = "torch"

    def build(self, ms: ModelSpec) -> EfficientNet:
        torch.manual_seed(0)
        return from_spec(ms)

    def set_state(self, model: EfficientNet, weights: Weights) -> None:
        load_canonical_state(model, weights)

    def get_state(self, model: EfficientNet) -> Weights:
        return canonical_state(model)

    def forward(self, model: EfficientNet, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        model.train(training)
        with torch.no_grad(), _SpecRunningVariance(model, enabled=training):
            out = model.forward_intermediates(_nchw(x))
        return {k: _nhwc(v) for k, v in out.items()}

    def train_step(self, model: EfficientNet, x: np.ndarray, labels: np.ndarray, lr: float) -> StepResult:
        model.train()
        model.zero_grad(set_to_none=True)
        with _SpecRunningVariance(
            model, enabled=True
        ):  # the fix-up runs after backward: BN saved the buffers
            logits = model(_nchw(x))
            loss = nn.functional.cross_entropy(logits, torch.from_numpy(np.asarray(labels, dtype=np.int64)))
            loss.backward()
        grads = self._canonical_grads(model)
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        return StepResult(float(loss.detach()), grads, canonical_state(model))

    @staticmethod
    def _canonical_grads(model: EfficientNet) -> Weights:
        state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        for name, p in model.named_parameters():
            state[name] = p.grad.detach().numpy()
        canon = to_canonical(state, model.spec, FORMATS["torch"], include_top=model.include_top)
        return {k: v for k, v in canon.items() if not k.endswith((".bn.mean", ".bn.var"))}


class _SpecRunningVariance:
    """Context: record each BN's old variance and per-channel count n; on exit, convert torch's
    unbiased running-variance update into the spec's biased one."""

    def __init__(self, model: nn.Module, enabled: bool) -> None:
        self.bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)] if enabled else []
        self.counts: dict[nn.BatchNorm2d, int] = {}
        self.hooks: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> _SpecRunningVariance:
        self.old = {bn: bn.running_var.detach().clone() for bn in self.bns}
        for bn in self.bns:
            self.hooks.append(bn.register_forward_pre_hook(self._count))
        return self

    def _count(self, bn: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0]
        self.counts[bn] = x.numel() // x.shape[1]

    def __exit__(self, *exc: object) -> None:
        for hook in self.hooks:
            hook.remove()
        if exc[0] is not None:
            return
        with torch.no_grad():
            for bn in self.bns:
                if bn in self.counts:
                    decay = 1.0 - bn.momentum
                    new = bn.running_var
                    new -= (new - decay * self.old[bn]) / self.counts[bn]


ADAPTER = TorchAdapter()
