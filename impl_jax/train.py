"""The JAX trainer engine (see ``training.engine.Engine``): optax RMSProp (+ coupled L2 weight decay
on non-BN weights) with the spec's recipe through ``nnx.Optimizer``, an EMA model, one jitted step on
the model, EMA and optimizer state (``StateJit``; retraced when the stage's image size or dropout
changes), exact resume: every NNX variable of the model, EMA and optimizer (RNG keys included) saved
as arrays, and data parallel by sharding the global batch over a device mesh (``impl_jax.distributed``).

Execution (``effnet.execution``): bf16/fp16 set the model's compute dtype; parameters, BN
statistics, optimizer state and the EMA stay float32 and the loss is computed from float32 logits.
fp16 always scales the loss (``LossScale``: dynamic, the rule of ``torch.amp.GradScaler`` and Keras'
``LossScaleOptimizer``): a step whose gradients are not all finite changes nothing but the scale."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from effnet.execution import LOSS_SCALE_GROWTH_STEPS, LOSS_SCALE_INITIAL, Execution
from effnet.spec import ModelSpec
from effnet.spec.init import initial_weights
from effnet.spec.recipe import Recipe

from .build import canonical_state, from_spec, load_canonical_state
from .distributed import DataParallel, configure
from .model import EfficientNet
from .state_jit import StateJit

WEIGHTS = nnx.Any(nnx.Param, nnx.BatchStat)  # what the EMA averages
COMPUTE_DTYPES = {"fp32": None, "bf16": jnp.bfloat16, "fp16": jnp.float16}


class LossScaleState(nnx.Variable):
    """The dynamic loss scale's state (not a parameter: no gradient, no EMA)."""


class LossScale(nnx.Module):
    """Dynamic loss scaling (fp16): the loss is multiplied by ``scale`` before differentiation; after
    ``LOSS_SCALE_GROWTH_STEPS`` finite steps the scale doubles, a non-finite gradient halves it."""

    def __init__(self) -> None:
        self.scale = LossScaleState(jnp.float32(LOSS_SCALE_INITIAL))
        self.good_steps = LossScaleState(jnp.int32(0))

    def adjust(self, finite: jax.Array) -> None:
        grow = finite & (self.good_steps.value + 1 >= LOSS_SCALE_GROWTH_STEPS)
        self.scale.value = jnp.where(
            finite, jnp.where(grow, self.scale.value * 2, self.scale.value), self.scale.value / 2
        )
        self.good_steps.value = jnp.where(finite & ~grow, self.good_steps.value + 1, 0)


def _not_bn(params: Any) -> Any:
    """Weight decay mask: conv and dense weights, not BN (AUTOML-V2 skips batch_normalization vars)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: not any(getattr(p, "key", None) == "bn" for p in path), params
    )


def _transform(
    decay_mask: Any, *, weight_decay: float, decay: float, eps: float, momentum: float
) -> Callable[[float], optax.GradientTransformation]:
    """Coupled L2 then RMSProp with eps inside the sqrt (optax's default, = Keras/automl)."""

    def make(learning_rate: float) -> optax.GradientTransformation:
        return optax.chain(
            optax.add_decayed_weights(weight_decay, mask=decay_mask),
            optax.rmsprop(learning_rate, decay=decay, eps=eps, momentum=momentum, eps_in_sqrt=True),
        )

    return make


def _optimizer(model: EfficientNet, recipe: Recipe) -> nnx.Optimizer:
    make = _transform(
        _not_bn,
        weight_decay=recipe.weight_decay,
        decay=recipe.rmsprop_decay,
        eps=recipe.epsilon,
        momentum=recipe.momentum,
    )
    return nnx.Optimizer(model, optax.inject_hyperparams(make)(learning_rate=0.0), wrt=nnx.Param)


def _loss(model: EfficientNet, x: jax.Array, y: jax.Array, scale: jax.Array) -> tuple[jax.Array, Any]:
    logits = model(x).astype(jnp.float32)  # bf16/fp16 compute, float32 loss
    loss = -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))
    return loss * scale, (loss, logits)


def _apply(
    model: EfficientNet, ema: EfficientNet, opt: nnx.Optimizer, grads: Any, lr: jax.Array, decay: jax.Array
) -> None:
    opt.opt_state.hyperparams["learning_rate"].value = lr
    opt.update(model, grads)
    live = nnx.state(model, WEIGHTS)
    averaged = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, nnx.state(ema, WEIGHTS), live)
    nnx.update(ema, averaged)


def _accuracy(logits: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(y, -1))


def _train_step(
    model: EfficientNet,
    ema: EfficientNet,
    opt: nnx.Optimizer,
    x: jax.Array,
    y: jax.Array,
    lr: jax.Array,
    decay: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    (_, (loss, logits)), grads = nnx.value_and_grad(_loss, has_aux=True)(model, x, y, jnp.float32(1))
    _apply(model, ema, opt, grads, lr, decay)
    return loss, _accuracy(logits, y)


def _train_step_scaled(
    model: EfficientNet,
    ema: EfficientNet,
    opt: nnx.Optimizer,
    scaler: LossScale,
    x: jax.Array,
    y: jax.Array,
    lr: jax.Array,
    decay: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """fp16: the scaled loss's gradients, unscaled; a non-finite one leaves model, EMA and optimizer
    as they were (batch statistics included) and halves the scale."""
    scale = scaler.scale.value
    (_, (loss, logits)), grads = nnx.value_and_grad(_loss, has_aux=True)(model, x, y, scale)
    grads = jax.tree.map(lambda g: g / scale, grads)
    finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    before = nnx.state((model, ema, opt))
    _apply(model, ema, opt, grads, lr, decay)
    nnx.update(
        (model, ema, opt),
        jax.tree.map(lambda new, old: jnp.where(finite, new, old), nnx.state((model, ema, opt)), before),
    )
    scaler.adjust(finite)
    return loss, _accuracy(logits, y)


@nnx.jit
def _evaluate(ema: EfficientNet, x: jax.Array) -> jax.Array:
    return ema(x)


def _variables(module: Any) -> dict[str, nnx.Variable]:
    return {
        "/".join(str(p) for p in path): v for path, v in nnx.iter_graph(module) if isinstance(v, nnx.Variable)
    }


def _to_numpy(value: Any) -> np.ndarray:
    if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(value))
    return np.asarray(value)


class JaxEngine:
    name = "jax"

    def __init__(
        self,
        ms: ModelSpec,
        recipe: Recipe,
        seed: int,
        devices: int | None = None,
        execution: Execution | None = None,
    ) -> None:
        self.dp = DataParallel(devices)
        self.process, self.replicas = self.dp.process, self.dp.replicas
        self.recipe, self.step = recipe, 0
        self.execution = (execution or Execution()).resolved(
            "jax", accelerator=jax.default_backend() != "cpu"
        )
        dtype = COMPUTE_DTYPES[str(self.execution.precision)]
        self.model = from_spec(ms, seed=seed, dtype=dtype)
        load_canonical_state(self.model, initial_weights(ms, seed, scheme=recipe.init))  # the spec's init
        self.model.train()
        self.ema = from_spec(ms, seed=seed, dtype=dtype)
        self.scaler = LossScale() if self.execution.precision == "fp16" else None
        nnx.update(self.ema, nnx.state(self.model, WEIGHTS))
        self.ema.eval()
        self.opt = _optimizer(self.model, recipe)
        for module in self._parts().values():  # the same state on every device of the mesh
            nnx.update(module, self.dp.replicate(nnx.state(module)))
        self._compiled: StateJit | None = None  # holds the live state between steps

    def _jitted_step(self) -> StateJit:
        if self._compiled is None:
            self.model.train()
            if self.scaler is None:
                self._compiled = StateJit(_train_step, self.model, self.ema, self.opt)
            else:
                self._compiled = StateJit(_train_step_scaled, self.model, self.ema, self.opt, self.scaler)
        return self._compiled

    def _settle(self) -> None:
        """Bring the model, EMA and optimizer up to date before anything reads or changes them."""
        if self._compiled is not None:
            self._compiled.sync()
            self._compiled = None

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        return self.dp.all_sum(values)

    def set_dropout(self, rate: float) -> None:
        self._settle()
        self.model.set_regularization(dropout=rate)

    def observed(self) -> dict[str, float]:
        return {"dropout": float(self.model.dropout.rate)}

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        self.step += 1
        loss, acc = self._jitted_step()(
            self.dp.batch(x),
            self.dp.batch(y),
            jnp.float32(lr),
            jnp.float32(self.recipe.ema_decay_at(self.step)),
        )
        return float(loss), float(acc)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        self._settle()
        self.ema.eval()
        n, full = len(x), self.recipe.batch_size // self.process[1]
        if n < full:  # pad the last partial batch: one compiled shape per image size
            x = np.concatenate([x, np.zeros((full - n, *x.shape[1:]), x.dtype)])
        return np.asarray(self.dp.local(_evaluate(self.ema, self.dp.batch(x)))[:n], np.float32)

    def save(self, directory: Path) -> None:
        self._settle()
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            f"{part}/{k}": _to_numpy(v.value)
            for part, module in self._parts().items()
            for k, v in _variables(module).items()
        }
        np.savez(directory / "jax_state.npz", step=np.int64(self.step), **arrays)

    def load(self, directory: Path) -> None:
        self._settle()
        with np.load(directory / "jax_state.npz") as data:
            self.step = int(data["step"])
            for part, module in self._parts().items():
                if part == "loss_scale" and not any(k.startswith("loss_scale/") for k in data.files):
                    continue  # a checkpoint of another precision: the scale starts afresh
                for key, var in _variables(module).items():
                    saved = data[f"{part}/{key}"]
                    if jnp.issubdtype(var.value.dtype, jax.dtypes.prng_key):
                        value = jax.random.wrap_key_data(jnp.asarray(saved))
                    else:
                        value = jnp.asarray(saved, dtype=var.value.dtype)
                    var.value = self.dp.replicate(value)

    def _parts(self) -> dict[str, Any]:
        parts = {"model": self.model, "ema": self.ema, "optimizer": self.opt}
        return parts if self.scaler is None else {**parts, "loss_scale": self.scaler}

    def canonical_weights(self) -> dict[str, np.ndarray]:
        self._settle()
        return canonical_state(self.ema)


def create_engine(
    ms: ModelSpec, recipe: Recipe, seed: int, devices: int | None = None, execution: Execution | None = None
) -> JaxEngine:
    configure(devices)
    return JaxEngine(ms, recipe, seed, devices, execution)
