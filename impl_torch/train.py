"""The torch trainer engine (see ``training.engine.Engine``): RMSProp with TF's epsilon placement
(``impl_torch.optim.RMSpropTF``, a ``torch.optim.Optimizer``) and the spec's recipe,
label-smoothed/mixed soft-label cross-entropy, an EMA of every weight and BN statistic,
exact resume (model, optimizer, EMA and step in one ``weights_only`` checkpoint), and data parallel
with DDP under ``torchrun`` (``impl_torch.distributed``).

Randomness (dropout, drop path) is drawn from a generator re-seeded each step from
``(seed, rank, step)``: a resumed run draws what the uninterrupted run drew, whatever the number of
processes, without saving RNG state.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from effnet.errors import ResumeError, TrainError
from effnet.spec import ModelSpec
from effnet.spec.init import initial_weights
from effnet.spec.recipe import Recipe

from .build import canonical_state, from_spec, load_canonical_state
from .distributed import all_sum, cross_replica_batch_norm, process_group
from .optim import RMSpropTF


class TorchEngine:
    name = "torch"

    def __init__(self, ms: ModelSpec, recipe: Recipe, seed: int) -> None:
        self.process = process_group()
        self.replicas = self.process[1]
        self.device = torch.device(
            f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
        )
        self.recipe, self.seed, self.step = recipe, seed, 0
        self.model = from_spec(ms)
        load_canonical_state(
            self.model, initial_weights(ms, seed, scheme=recipe.init)
        )  # the spec's init, same on every rank
        self.model = self.model.to(self.device).train()
        self.ema = copy.deepcopy(self.model).eval()
        self.forward = self.model
        if self.replicas > 1:
            cross_replica_batch_norm(self.model)
            self.forward = DistributedDataParallel(self.model, forward_sync_buffers=False)
        # weight decay on conv and dense weights, not on BN (AUTOML-V2 skips batch_normalization vars)
        decay = [p for n, p in self.model.named_parameters() if ".bn." not in n]
        no_decay = [p for n, p in self.model.named_parameters() if ".bn." in n]
        self.opt = RMSpropTF(
            [
                {"params": decay, "weight_decay": recipe.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            rho=recipe.rmsprop_decay,
            eps=recipe.epsilon,
            momentum=recipe.momentum,
        )

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        return all_sum(torch.from_numpy(np.array(values))).numpy()

    def set_dropout(self, rate: float) -> None:
        self.model.set_regularization(dropout=rate)

    def observed(self) -> dict[str, float]:
        return {"dropout": float(self.model.dropout.p)}

    def _nchw(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(self.device)

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        for group in self.opt.param_groups:
            group["lr"] = lr
        torch.manual_seed(
            int(np.random.SeedSequence([self.seed, self.process[0], self.step]).generate_state(1)[0])
        )
        self.model.train()
        target = torch.from_numpy(y).to(self.device)
        logits = self.forward(self._nchw(x))
        loss = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the ranks here
        self.opt.step()
        self.step += 1
        self._update_ema()
        accuracy = (logits.argmax(1) == target.argmax(1)).float().mean()
        metrics = all_sum(torch.stack([loss.detach(), accuracy]).cpu()) / self.process[1]
        return float(metrics[0]), float(metrics[1])

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.recipe.ema_decay_at(self.step)
        for ema, live in zip(self.ema.state_dict().values(), self.model.state_dict().values(), strict=True):
            if ema.is_floating_point():
                ema.mul_(d).add_(live, alpha=1.0 - d)
            else:
                ema.copy_(live)

    @torch.no_grad()
    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return self.ema(self._nchw(x)).cpu().numpy()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.opt.state_dict(),
                "step": self.step,
            },
            directory / "torch_state.pt",
        )

    def load(self, directory: Path) -> None:
        path = directory / "torch_state.pt"
        try:
            with warnings.catch_warnings():  # a plain (non-zip) pickle draws a warning before the refusal
                warnings.simplefilter("ignore", UserWarning)
                state = torch.load(path, map_location=self.device, weights_only=True)
        except pickle.UnpicklingError as err:  # torch's own words point at weights_only=False
            raise ResumeError(
                f"{path}: refused, it holds more than tensors and numbers (loading it could run code)"
            ) from err
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])

    def canonical_weights(self) -> dict[str, np.ndarray]:
        return canonical_state(self.ema)


def create_engine(ms: ModelSpec, recipe: Recipe, seed: int, devices: int | None = None) -> TorchEngine:
    if devices not in (None, 1):
        raise TrainError(
            f"--devices {devices}: the torch backend replicates over processes, not --devices: launch "
            f"`torchrun --nproc-per-node {devices} -m effnet train --backend torch ...`"
        )
    return TorchEngine(ms, recipe, seed)
