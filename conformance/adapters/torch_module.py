"""What every adapter of a ``torch.nn.Module`` EfficientNet shares: canonical weights through a weight
format (``effnet.weights_convert.formats``), eval and train-mode forwards with named intermediates
taken by forward hooks, the spec's running-variance convention, and an SGD step whose gradients are
mapped back to canonical names. A library adapter says how to build its model and which module's
output is which canonical intermediate.

Running variance: torch updates it with the *unbiased* batch variance, the spec (TF/Keras/Flax)
with the biased one. After every train-mode forward the adapter rewrites each BN's running
variance into the spec's convention: ``var_spec = var_torch - (var_torch - decay * var_old) / n``,
n being the number of values per channel in that batch (torch's n / (n - 1) factor undone).
The model itself keeps torch's native semantics, as torch users expect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from effnet.spec import ModelSpec
from effnet.weights_convert.formats import FORMATS, Format, from_canonical, to_canonical

from ..protocol import ADAPTER_API, StepResult, Weights

SPEC_ATTRIBUTE = "_effnet_spec"  # the ModelSpec a built module was made from


def nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 3, 1, 2)))


def nhwc(t: torch.Tensor) -> np.ndarray:
    a = t.detach().float().numpy()
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


class TorchModuleAdapter:
    """Subclasses set ``name``, ``library``, ``format`` and implement ``make`` (and ``taps``)."""

    adapter_api = ADAPTER_API
    version = "1"
    name = "torch-module"
    library = "torch"
    format = "torch"

    @property
    def library_version(self) -> str:
        import importlib.metadata

        return importlib.metadata.version(self.library)

    def claims(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def make(self, ms: ModelSpec) -> nn.Module:
        raise NotImplementedError

    def taps(self, ms: ModelSpec) -> dict[str, str]:
        """Canonical intermediate name -> the module path whose output it is."""
        return {}

    def weight_format(self) -> Format:
        """How this library names and lays out its state (a row of ``FORMATS`` by default)."""
        return FORMATS[self.format]

    def logits_of(self, output: Any) -> torch.Tensor:
        """The logits in what the model's forward returns (a tensor, unless the library wraps it)."""
        return output

    def spec_of(self, model: nn.Module) -> ModelSpec:
        return getattr(model, SPEC_ATTRIBUTE)

    def build(self, ms: ModelSpec) -> nn.Module:
        torch.manual_seed(0)
        model = self.make(ms)
        setattr(model, SPEC_ATTRIBUTE, ms)
        return model

    def set_state(self, model: nn.Module, weights: Weights) -> None:
        state = from_canonical(weights, self.spec_of(model), self.weight_format())
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)

    def get_state(self, model: nn.Module) -> Weights:
        state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        return to_canonical(state, self.spec_of(model), self.weight_format())

    def parameter_count(self, model: nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    def run(self, model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's logits and tapped intermediates for one NCHW batch."""
        modules = dict(model.named_modules())
        seen: dict[str, torch.Tensor] = {}
        hooks = [
            modules[path].register_forward_hook(lambda _m, _a, out, name=name: seen.__setitem__(name, out))
            for name, path in self.taps(self.spec_of(model)).items()
        ]
        try:
            logits = self.logits_of(model(x))
        finally:
            for hook in hooks:
                hook.remove()
        return {**seen, "logits": logits}

    def forward(self, model: nn.Module, x: np.ndarray, *, training: bool = False) -> dict[str, np.ndarray]:
        model.train(training)
        with torch.no_grad(), SpecRunningVariance(model, enabled=training):
            out = self.run(model, nchw(x))
        return {k: nhwc(v) for k, v in out.items()}

    def train_step(self, model: nn.Module, x: np.ndarray, labels: np.ndarray, lr: float) -> StepResult:
        model.train()
        model.zero_grad(set_to_none=True)
        with SpecRunningVariance(model, enabled=True):  # the fix-up runs after backward
            logits = self.logits_of(model(nchw(x)))
            loss = nn.functional.cross_entropy(logits, torch.from_numpy(np.asarray(labels, dtype=np.int64)))
            loss.backward()
        grads = self._canonical_grads(model)
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        return StepResult(float(loss.detach()), grads, self.get_state(model))

    def _canonical_grads(self, model: nn.Module) -> Weights:
        state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        for name, p in model.named_parameters():
            state[name] = p.grad.detach().numpy()
        canon = to_canonical(state, self.spec_of(model), self.weight_format())
        return {k: v for k, v in canon.items() if not k.endswith((".bn.mean", ".bn.var"))}


class SpecRunningVariance:
    """Context: record each BN's old variance and per-channel count n; on exit, convert torch's
    unbiased running-variance update into the spec's biased one."""

    def __init__(self, model: nn.Module, enabled: bool) -> None:
        self.bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)] if enabled else []
        self.counts: dict[nn.BatchNorm2d, int] = {}
        self.hooks: list[Any] = []

    def __enter__(self) -> SpecRunningVariance:
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
