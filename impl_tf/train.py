"""The TensorFlow trainer engine (see ``training.engine.Engine``): keras.optimizers.RMSprop with the
spec's recipe (+ coupled L2 weight decay on non-BN weights, added to the gradients as torch's
RMSprop ``weight_decay`` and optax ``add_decayed_weights`` do), an EMA model, one ``tf.function``
step (retraced when the stage's image size changes; learning rate, EMA decay and dropout are
variables or tensors, so they do not retrace), ``tf.distribute`` data parallelism with
cross-replica batch norm, and exact resume: every variable of the model, EMA and optimizer (the
dropout / drop-path ``SeedGenerator`` states included) saved as arrays in one ``.npz``.

Data parallel: ``MirroredStrategy`` over ``devices`` local GPUs (or ``devices`` logical CPUs split
from the one physical CPU), ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` is set, else the
default strategy (one replica). Each replica gets a contiguous slice of this process's batch (in
replica order), its loss is its share of the global-batch mean (sum over its samples / global
batch), so the gradients Keras sums over replicas are the global-batch mean's gradient.

Execution (``effnet.execution``): bf16/fp16 build both models under Keras' ``mixed_bfloat16`` /
``mixed_float16`` dtype policy (float32 variables, BN statistics and logits; the optimizer and the
EMA update float32 variables); fp16 always wraps RMSprop in a ``LossScaleOptimizer``. ``xla``
compiles the train and eval steps with ``jit_compile``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from effnet.errors import TrainError
from effnet.execution import LOSS_SCALE_GROWTH_STEPS, LOSS_SCALE_INITIAL, Execution
from effnet.spec import ModelSpec
from effnet.spec.init import initial_weights
from effnet.spec.recipe import Recipe

from .build import canonical_state, from_spec, load_canonical_state
from .model import EfficientNet

STATE_FILE = "tf_state.npz"
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
SUM = tf.distribute.ReduceOp.SUM
_MULTI_WORKER: list[tf.distribute.Strategy] = []  # created once per process (TF allows one)


def _split_cpu(n: int) -> None:
    """Split the physical CPU into ``n`` logical devices (before TF initialises its devices)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as err:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise RuntimeError(
                f"devices={n} needs {n} logical CPU devices, but TensorFlow already initialised its "
                f"devices with {have}; create the engine before anything runs TensorFlow ops"
            ) from err


def _strategy(devices: int | None) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy under ``TF_CONFIG``; MirroredStrategy over ``devices`` (default:
    all local GPUs, else one CPU) when more than one; else the default strategy."""
    if os.environ.get("TF_CONFIG"):
        if not _MULTI_WORKER:
            _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
        return _MULTI_WORKER[0]
    gpus = tf.config.list_physical_devices("GPU")
    n = devices or max(len(gpus), 1)
    if gpus and n > len(gpus):
        raise TrainError(f"--devices {n}: this host has {len(gpus)} GPU(s)")
    if n == 1:
        return tf.distribute.get_strategy()
    if not gpus:
        _split_cpu(n)
    kind = "GPU" if gpus else "CPU"
    return tf.distribute.MirroredStrategy([f"/{kind}:{i}" for i in range(n)])


def _process(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(rank, count) of this worker among the ``TF_CONFIG`` cluster's chief + workers."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 0, 1
    cluster = resolver.cluster_spec().as_dict()
    tasks = [(kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, ())))]
    return tasks.index((resolver.task_type, resolver.task_id)), len(tasks)


def _batch_norms(model: EfficientNet) -> list[keras.layers.BatchNormalization]:
    convbns = [model.stem, *(c for b in model.blocks for c in (b.expand, b.dw, b.project) if c), model.head]
    return [c.bn for c in convbns]


def _is_bn(variable: keras.Variable) -> bool:
    return "/bn/" in variable.path


def _state_variables(model: EfficientNet) -> list[tf.Variable | keras.Variable]:
    """Every variable that resume needs, in a fixed order: Keras variables (weights, BN statistics,
    SeedGenerator states) and the dropout / drop-path rate ``tf.Variable``s. Saved by position: Keras
    names seed generators with a process-wide counter, so paths differ between engines."""
    return [*model.variables, model.dropout.rate, *(b.drop_path.rate for b in model.blocks)]


def _key(part: str, index: int) -> str:
    return f"{part}/{index:05d}"


def _restore(data: Any, part: str, variables: list[tf.Variable | keras.Variable], where: Path) -> None:
    """Assign ``part``'s saved arrays to ``variables``: the same count and shapes, else ValueError."""
    saved = sum(k.startswith(f"{part}/") for k in data.files)
    if saved != len(variables):
        raise ValueError(f"{where}: {saved} {part} variables saved, this engine has {len(variables)}")
    for i, variable in enumerate(variables):
        array = data[_key(part, i)]
        if array.shape != tuple(variable.shape):
            raise ValueError(f"{where}: {_key(part, i)} has shape {array.shape}, expected {variable.shape}")
        variable.assign(array)


class TFEngine:
    name = "tf"

    def __init__(
        self,
        ms: ModelSpec,
        recipe: Recipe,
        seed: int,
        strategy: tf.distribute.Strategy,
        execution: Execution | None = None,
    ) -> None:
        keras.utils.set_random_seed(seed)
        self.recipe, self.step, self.strategy = recipe, 0, strategy
        self.replicas = strategy.num_replicas_in_sync
        self.process = _process(strategy)
        self._local = self.replicas // self.process[1]  # replicas of this process
        gpus = bool(tf.config.list_physical_devices("GPU"))
        self.execution = (execution or Execution()).resolved("tf", accelerator=gpus)
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(POLICIES[str(self.execution.precision)])  # read as layers are built
        try:
            with strategy.scope():  # mirrored variables, one copy per local replica
                self.model, self.ema = from_spec(ms), from_spec(ms)
        finally:
            keras.config.set_dtype_policy(previous)
        with strategy.scope():
            load_canonical_state(self.model, initial_weights(ms, seed, scheme=recipe.init))  # the spec's init
            self.rmsprop = keras.optimizers.RMSprop(
                learning_rate=0.0, rho=recipe.rmsprop_decay, momentum=recipe.momentum, epsilon=recipe.epsilon
            )
            self.opt: keras.optimizers.Optimizer = self.rmsprop
            if self.execution.precision == "fp16":  # loss scaling is always on for fp16
                self.opt = keras.mixed_precision.LossScaleOptimizer(
                    self.rmsprop,
                    initial_scale=LOSS_SCALE_INITIAL,
                    dynamic_growth_steps=LOSS_SCALE_GROWTH_STEPS,
                )
            self.opt.build(self.model.trainable_variables)  # so that load() works before any step
        for ema, live in zip(self.ema.weights, self.model.weights, strict=True):
            ema.assign(live)
        if self.replicas > 1:  # global-batch BN statistics (Keras reads the flag at call time)
            for bn in _batch_norms(self.model):
                bn.synchronized = True
        # coupled L2 weight decay on conv and dense weights, not on BN (as the torch and JAX engines)
        self._decayed = [not _is_bn(v) for v in self.model.trainable_variables]
        xla = bool(self.execution.xla)
        self._train = tf.function(self._step, jit_compile=xla, reduce_retracing=True)
        self._evaluate = tf.function(
            lambda x: self.ema(x, training=False), jit_compile=xla, reduce_retracing=True
        )

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        if self.process[1] == 1:
            return values.copy()
        # one replica per process contributes its values, the others zeros
        summed = self.strategy.reduce(
            SUM, self._distribute(lambda r: values if r == 0 else np.zeros_like(values)), axis=None
        )
        return np.asarray(summed)

    def set_dropout(self, rate: float) -> None:
        self.model.set_regularization(dropout=rate)

    def observed(self) -> dict[str, float]:
        return {"dropout": float(self.model.dropout.rate.numpy())}

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        if len(x) % self._local:
            raise ValueError(f"a batch of {len(x)} does not split over {self._local} replicas")
        self.rmsprop.learning_rate.assign(lr)
        self.step += 1
        n = len(x) // self._local
        shards = [(x[r * n : (r + 1) * n], y[r * n : (r + 1) * n]) for r in range(self._local)]
        loss, accuracy = self._train(
            self._distribute(lambda r: shards[r][0]),
            self._distribute(lambda r: shards[r][1]),
            tf.constant(self.recipe.ema_decay_at(self.step), tf.float32),
        )
        return float(loss), float(accuracy)

    def _distribute(self, local: Callable[[int], np.ndarray]) -> tf.Tensor | tf.distribute.DistributedValues:
        """Per-replica values: ``local(r)`` for this process's ``r``-th replica."""
        if self.replicas == 1:
            return tf.constant(local(0))

        def value(ctx: tf.distribute.experimental.ValueContext) -> tf.Tensor:
            r = ctx.replica_id_in_sync_group % self._local  # replica ids: process-major
            with tf.device(self.strategy.extended.worker_devices[r]):
                return tf.constant(local(r))

        return self.strategy.experimental_distribute_values_from_function(value)

    def _step(self, x: tf.Tensor, y: tf.Tensor, decay: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The traced step: every replica's forward/backward/update, the global loss and accuracy,
        then the EMA update."""
        loss, accuracy = (
            self.strategy.reduce(SUM, value, axis=None)
            for value in self.strategy.run(self._replica_step, args=(x, y))
        )
        for ema, live in zip(self.ema.weights, self.model.weights, strict=True):
            ema.assign(decay * ema + (1.0 - decay) * live)
        return loss, accuracy

    def _replica_step(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One replica's share of the global batch's (mean loss, accuracy): its samples' sums divided
        by the global batch; its gradients plus its share of the weight decay go to the optimizer,
        which all-reduces (sums) them over the replicas before applying."""
        global_batch = tf.cast(tf.shape(x)[0] * self.replicas, tf.float32)
        variables = self.model.trainable_variables
        scaled = isinstance(self.opt, keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)  # float32 under every policy
            loss = -tf.reduce_sum(y * tf.nn.log_softmax(logits)) / global_batch
            target = self.opt.scale_loss(loss) if scaled else loss
        grads = tape.gradient(target, variables)
        wd = self.recipe.weight_decay / self.replicas  # Keras sums the replicas' gradients
        if scaled:  # the optimizer divides the gradients by the scale: so must the decay term be scaled
            wd = wd * self.opt.dynamic_scale
        grads = [g + wd * v if d else g for g, v, d in zip(grads, variables, self._decayed, strict=True)]
        self.opt.apply_gradients(zip(grads, variables, strict=True))
        hits = tf.cast(tf.argmax(logits, -1) == tf.argmax(y, -1), tf.float32)
        return loss, tf.reduce_sum(hits) / global_batch

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return self._evaluate(tf.constant(x)).numpy()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            _key(part, i): np.asarray(v.numpy())
            for part, variables in self._parts().items()
            for i, v in enumerate(variables)
        }
        np.savez(directory / STATE_FILE, step=np.int64(self.step), **arrays)

    def load(self, directory: Path) -> None:
        with np.load(directory / STATE_FILE) as data:
            for part, variables in self._parts().items():
                if part == "loss_scale" and not any(k.startswith("loss_scale/") for k in data.files):
                    continue  # a checkpoint of another precision: the scale starts afresh
                _restore(data, part, variables, directory)
            self.step = int(data["step"])

    def _parts(self) -> dict[str, list[tf.Variable | keras.Variable]]:
        parts = {
            "model": _state_variables(self.model),
            "ema": _state_variables(self.ema),
            "optimizer": list(self.rmsprop.variables),
        }
        if self.opt is not self.rmsprop:  # fp16: the loss scale and its step counter
            parts["loss_scale"] = [self.opt.dynamic_scale, self.opt.step_counter]
        return parts

    def canonical_weights(self) -> dict[str, np.ndarray]:
        return canonical_state(self.ema)


def create_engine(
    ms: ModelSpec, recipe: Recipe, seed: int, devices: int | None = None, execution: Execution | None = None
) -> TFEngine:
    """``devices``: local devices to replicate over (default: all local GPUs, else one CPU; on a
    CPU-only host ``n`` splits the CPU into ``n`` logical devices, which must happen before
    TensorFlow initialises its devices)."""
    return TFEngine(ms, recipe, seed, _strategy(devices), execution)
