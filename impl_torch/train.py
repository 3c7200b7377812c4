"""The torch trainer engine (see ``training.engine.Engine``): RMSProp with TF's epsilon placement
(``impl_torch.optim.RMSpropTF``, a ``torch.optim.Optimizer``) and the spec's recipe,
label-smoothed/mixed soft-label cross-entropy, an EMA of every weight and BN statistic,
exact resume (model, optimizer, EMA and step in one ``weights_only`` checkpoint), and data parallel
with DDP under ``torchrun`` (``impl_torch.distributed``).

Execution (``effnet.execution``): bf16/fp16 under ``torch.autocast`` (float32 parameters, BN
statistics, optimizer state and EMA; the loss in float32), fp16 always with a ``GradScaler``;
``channels_last`` memory format; ``torch.compile`` of the forward (``self.model`` stays the plain
module, so state dicts keep their names).

Randomness (dropout, drop path) is drawn from a generator re-seeded each step from
``(seed, rank, step)``: a resumed run draws what the uninterrupted run drew, whatever the number of
processes, without saving RNG state.
"""

from __future__ import annotations

import contextlib
import copy
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from effnet.errors import ResumeError, TrainError
from effnet.execution import LOSS_SCALE_GROWTH_STEPS, LOSS_SCALE_INITIAL, Execution
from effnet.spec import ModelSpec
from effnet.spec.init import initial_weights
from effnet.spec.recipe import Recipe

from .batch_norm import use_spec_batch_norm
from .build import canonical_state, from_spec, load_canonical_state
from .distributed import all_sum, cross_replica_batch_norm, process_group
from .flat import pack, packed
from .optim import RMSpropTF


class TorchEngine:
    name = "torch"

    def __init__(self, ms: ModelSpec, recipe: Recipe, seed: int, execution: Execution | None = None) -> None:
        self.process = process_group()
        self.replicas = self.process[1]
        self.device = torch.device(
            f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
        )
        self.execution = (execution or Execution()).resolved("torch", accelerator=self.device.type != "cpu")
        self._channels_last = self.execution.memory_format == "channels_last"
        half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(str(self.execution.precision))
        self._half = half
        self.scaler = (
            torch.amp.GradScaler(
                self.device.type, init_scale=LOSS_SCALE_INITIAL, growth_interval=LOSS_SCALE_GROWTH_STEPS
            )
            if half is torch.float16
            else None
        )
        self.recipe, self.seed, self.step = recipe, seed, 0
        self.model = from_spec(ms)
        load_canonical_state(
            self.model, initial_weights(ms, seed, scheme=recipe.init)
        )  # the spec's init, same on every rank
        memory = torch.channels_last if self._channels_last else torch.contiguous_format
        self.model = use_spec_batch_norm(self.model.to(self.device, memory_format=memory).train())
        # decayed weights, then BN's weights, then the float buffers (BN statistics), laid end to end in
        # one buffer (impl_torch.flat): the optimizer and the EMA update whole buffers, not tensors
        live = self.model.state_dict(keep_vars=True)
        names = [n for n, _ in self.model.named_parameters()]
        decay = [n for n in names if ".bn." not in n]
        no_decay = [n for n in names if ".bn." in n]
        floats = [n for n, t in live.items() if t.is_floating_point() and n not in names]
        self._averaged = decay + no_decay + floats  # what the EMA averages, in buffer order
        pack([live[n] for n in self._averaged])
        self.ema = copy.deepcopy(self.model).eval()
        ema = self.ema.state_dict(keep_vars=True)
        pack([ema[n] for n in self._averaged])
        # the tensors themselves (load_state_dict copies into them; nothing here replaces them)
        self._ema_pairs = ([ema[n] for n in self._averaged], [live[n] for n in self._averaged])
        self._ema_copied = [(ema[n], t) for n, t in live.items() if not t.is_floating_point()]
        self.forward: torch.nn.Module = self.model
        self.forward_ema: torch.nn.Module = self.ema
        if self.replicas > 1:
            cross_replica_batch_norm(self.model)
            self.forward = DistributedDataParallel(self.model, forward_sync_buffers=False)
        if self.execution.compile:
            self.forward = torch.compile(self.forward)  # type: ignore[assignment]
            self.forward_ema = torch.compile(self.ema)  # type: ignore[assignment]
        # weight decay on conv and dense weights, not on BN (AUTOML-V2 skips batch_normalization vars)
        self.opt = RMSpropTF(
            [
                {"params": [live[n] for n in decay], "weight_decay": recipe.weight_decay},
                {"params": [live[n] for n in no_decay], "weight_decay": 0.0},
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
        if self._channels_last:  # NHWC in memory is channels_last already: a view, no copy
            return torch.from_numpy(np.ascontiguousarray(x)).to(self.device).permute(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(self.device)

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        if self._half is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._half)

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        for group in self.opt.param_groups:
            group["lr"] = lr
        torch.manual_seed(
            int(np.random.SeedSequence([self.seed, self.process[0], self.step]).generate_state(1)[0])
        )
        self.model.train()
        target = torch.from_numpy(y).to(self.device)
        with self._autocast():
            logits = self.forward(self._nchw(x))
        loss = -(target * torch.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()  # DDP averages the gradients over the ranks here
            self.opt.step()
        else:  # fp16: scaled loss; a step with a non-finite gradient is skipped and the scale halved
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        self.step += 1
        self._update_ema()
        accuracy = (logits.argmax(1) == target.argmax(1)).float().mean()
        metrics = all_sum(torch.stack([loss.detach(), accuracy]).cpu()) / self.process[1]
        return float(metrics[0]), float(metrics[1])

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema = d * ema + (1 - d) * live over every float tensor; other buffers are copied."""
        d = self.recipe.ema_decay_at(self.step)
        emas, lives = self._ema_pairs
        ema_flat, live_flat = packed(emas), packed(lives)
        if ema_flat is not None and live_flat is not None:  # as __init__ packed them: two ops in all
            ema_flat.mul_(d)
            ema_flat.add_(live_flat, alpha=1.0 - d)
        else:  # the same arithmetic, in the same order, per tensor
            torch._foreach_mul_(emas, d)
            torch._foreach_add_(emas, lives, alpha=1.0 - d)
        for ema, live in self._ema_copied:
            ema.copy_(live)

    @torch.no_grad()
    def evaluate(self, x: np.ndarray) -> np.ndarray:
        with self._autocast():
            return self.forward_ema(self._nchw(x)).float().cpu().numpy()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.opt.state_dict(),
                "step": self.step,
                **({"scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
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
        if self.scaler is not None and "scaler" in state:  # else (from another precision): a fresh scale
            self.scaler.load_state_dict(state["scaler"])

    def canonical_weights(self) -> dict[str, np.ndarray]:
        return canonical_state(self.ema)


def create_engine(
    ms: ModelSpec, recipe: Recipe, seed: int, devices: int | None = None, execution: Execution | None = None
) -> TorchEngine:
    if devices not in (None, 1):
        raise TrainError(
            f"--devices {devices}: the torch backend replicates over processes, not --devices: launch "
            f"`torchrun --nproc-per-node {devices} -m effnet train --backend torch ...`"
        )
    return TorchEngine(ms, recipe, seed, execution)
