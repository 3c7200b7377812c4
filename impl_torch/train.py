"""The torch trainer engine (see ``training.engine.Engine``): torch.optim.RMSprop with the spec's
recipe, label-smoothed/mixed soft-label cross-entropy, an EMA of every weight and BN statistic,
and exact resume (model, optimizer, EMA, step and RNG state in one ``weights_only`` checkpoint)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from spec import ModelSpec
from training.recipe import Recipe

from .build import canonical_state, from_spec


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class TorchEngine:
    name = "torch"

    def __init__(self, ms: ModelSpec, recipe: Recipe, seed: int) -> None:
        torch.manual_seed(seed)
        self.recipe, self.step = recipe, 0
        self.model = from_spec(ms).train()
        self.ema = copy.deepcopy(self.model).eval()
        # weight decay on conv and dense weights, not on BN (AUTOML-V2 skips batch_normalization vars)
        decay = [p for n, p in self.model.named_parameters() if ".bn." not in n]
        no_decay = [p for n, p in self.model.named_parameters() if ".bn." in n]
        self.opt = torch.optim.RMSprop(
            [
                {"params": decay, "weight_decay": recipe.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=0.0,
            alpha=recipe.rmsprop_decay,
            eps=recipe.epsilon,
            momentum=recipe.momentum,
        )

    def set_dropout(self, rate: float) -> None:
        self.model.set_regularization(dropout=rate)

    def observed(self) -> dict[str, float]:
        return {"dropout": float(self.model.dropout.p)}

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        target = torch.from_numpy(y)
        logits = self.model(_nchw(x))
        loss = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        self._update_ema()
        accuracy = (logits.argmax(1) == target.argmax(1)).float().mean()
        return float(loss.detach()), float(accuracy)

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
        return self.ema(_nchw(x)).numpy()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.opt.state_dict(),
                "step": self.step,
                "rng": torch.get_rng_state(),
            },
            directory / "torch_state.pt",
        )

    def load(self, directory: Path) -> None:
        state = torch.load(directory / "torch_state.pt", map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"])

    def canonical_weights(self) -> dict[str, np.ndarray]:
        return canonical_state(self.ema)


def create_engine(ms: ModelSpec, recipe: Recipe, seed: int) -> TorchEngine:
    return TorchEngine(ms, recipe, seed)
