"""One training step (or one inference batch) per implementation and execution mode, on synthetic
data made once: the same batch, loss (mean softmax cross-entropy on logits) and optimizer (plain SGD)
everywhere; fp32 (TF32 off) or bf16 compute with fp32 parameters.

Implementations: ours (``torch``, ``jax``, ``tf``) built from one resolved spec, and the references
(``torchvision`` -- timm where torchvision lacks the model --, ``keras-tf`` and ``keras-jax``:
keras.applications on the TensorFlow and on the JAX backend). Each is measured in its own process
(``bench.worker``) so thread pools, compilation caches and Keras backends never mix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from effnet import backends, malloc, spec
from effnet.spec import ModelSpec

from .engine_steps import ENGINE_MODES, TIMM_MODES
from .timing import Step

LR = 0.01


def synthetic(ms: ModelSpec, batch: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, size, size, 3)).astype(np.float32), rng.integers(
        0, ms.num_classes, batch
    )


# ---- PyTorch: ours and torchvision/timm -------------------------------------------------------------


def _torch_module_step(
    net: Any, x: np.ndarray, y: np.ndarray, mode: str, kind: str, device: str, precision: str
) -> Step:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    memory = torch.channels_last if "channels_last" in mode else torch.contiguous_format
    net = net.to(dev).to(memory_format=memory)
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dev).to(memory_format=memory)
    ty = torch.from_numpy(y).to(dev)
    model = torch.compile(net, dynamic=False) if "compile" in mode else net
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    sync = (lambda out: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda out: out.sum().item())
    if kind == "infer":
        net.eval()

        def infer() -> Any:
            with torch.no_grad(), autocast:
                return model(tx)

        return Step(infer, sync)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=LR)

    def train() -> Any:
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(tx).float(), ty)
        loss.backward()
        opt.step()
        return loss

    return Step(train, sync)


def torch_ours(
    ms: ModelSpec, x: np.ndarray, y: np.ndarray, mode: str, kind: str, device: str, precision: str
) -> Step:
    from effnet import impl_torch

    return _torch_module_step(impl_torch.from_spec(ms), x, y, mode, kind, device, precision)


def torch_reference(
    ms: ModelSpec, x: np.ndarray, y: np.ndarray, mode: str, kind: str, device: str, precision: str
) -> Step:
    return _torch_module_step(reference_torch_model(ms), x, y, mode, kind, device, precision)


def reference_torch_model(ms: ModelSpec) -> Any:
    """torchvision's model when it has one, else timm's tf_* port (torchvision has no V2-B0..B3/XL)."""
    try:
        import torchvision

        name = spec.implementation_name(ms.name, "torchvision")
        return torchvision.models.get_model(name, weights=None, num_classes=ms.num_classes, dropout=0.0)
    except spec.SpecError:
        import timm

        return timm.create_model(
            spec.implementation_name(ms.name, "timm_tf"), pretrained=False, num_classes=ms.num_classes
        )


def timm_bare(
    ms: ModelSpec, x: np.ndarray, y: np.ndarray, mode: str, kind: str, device: str, precision: str
) -> Step:
    """The bare step on timm's model of the architecture (``engine_steps.timm_name``)."""
    import timm

    from .engine_steps import timm_name

    net = timm.create_model(timm_name(ms), pretrained=False, num_classes=ms.num_classes)
    return _torch_module_step(net, x, y, mode, kind, device, precision)


def reference_torch_label(ms: ModelSpec) -> str:
    try:
        return f"torchvision {spec.implementation_name(ms.name, 'torchvision')}"
    except spec.SpecError:
        return f"timm {spec.implementation_name(ms.name, 'timm_tf')}"


# ---- JAX: ours -----------------------------------------------------------------------------------


def jax_ours(
    ms: ModelSpec, x: np.ndarray, y: np.ndarray, mode: str, kind: str, device: str, precision: str
) -> Step:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from effnet import impl_jax
    from effnet.impl_jax.state_jit import StateJit

    jax.config.update("jax_default_matmul_precision", "highest")  # no TF32 on GPU for fp32
    model = impl_jax.from_spec(ms, dtype=jnp.bfloat16 if precision == "bf16" else None)
    model.set_depthwise_mode("shifted" if "shifted" in mode else "xla")
    jx, onehot = jnp.asarray(x), jax.nn.one_hot(jnp.asarray(y), ms.num_classes)
    if kind == "infer":
        model.eval()
        forward = nnx.jit(lambda m, v: m(v))
        return Step(lambda: forward(model, jx), jax.block_until_ready)
    model.train()

    def step(m: Any, xs: jax.Array, oh: jax.Array) -> jax.Array:
        def loss_fn(mm: Any) -> jax.Array:
            return -jnp.mean(jnp.sum(oh * jax.nn.log_softmax(mm(xs).astype(jnp.float32)), axis=-1))

        loss, grads = nnx.value_and_grad(loss_fn)(m)
        params = nnx.state(m, nnx.Param)
        nnx.update(m, jax.tree.map(lambda p, g: p - LR * g, params, grads))
        return loss

    if "nnx.jit" in mode:  # flax's own transform, which re-walks the module graph every call
        nnx_step = nnx.jit(step)
        return Step(lambda: nnx_step(model, jx, onehot), jax.block_until_ready)
    state_step = StateJit(step, model)
    return Step(lambda: state_step(jx, onehot), jax.block_until_ready)


# ---- Keras: ours (TF backend) and keras.applications (TF and JAX backends) ------------------------


def _keras_step(model: Any, x: np.ndarray, y: np.ndarray, mode: str, kind: str) -> Step:
    import keras

    jit = "xla" in mode or keras.backend.backend() == "jax"
    model.compile(
        optimizer=keras.optimizers.SGD(LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    if kind == "infer":
        return Step(lambda: model.predict_on_batch(x), lambda out: out)
    return Step(lambda: model.train_on_batch(x, y), lambda out: out)


def _keras_precision(precision: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")


def tf_ours(
    ms: ModelSpec, x: np.ndarray, y: np.ndarray, mode: str, kind: str, device: str, precision: str
) -> Step:
    from effnet import impl_tf

    _keras_precision(precision)
    return _keras_step(impl_tf.from_spec(ms), x, y, mode, kind)


def keras_reference(
    ms: ModelSpec, x: np.ndarray, y: np.ndarray, mode: str, kind: str, device: str, precision: str
) -> Step:
    import keras

    _keras_precision(precision)
    name = spec.implementation_name(ms.name, "keras")
    kwargs: dict[str, Any] = {
        "weights": None,
        "input_shape": x.shape[1:],
        "classifier_activation": None,
        "classes": ms.num_classes,
    }
    if ms.family == "efficientnet-v2":
        kwargs["include_preprocessing"] = False
    return _keras_step(getattr(keras.applications, name)(**kwargs), x, y, mode, kind)


@dataclass(frozen=True)
class Impl:
    name: str
    ours: bool
    backend: str  # which of our backends it is, or the one it is the reference for
    env: dict[str, str]  # environment of its worker process (KERAS_BACKEND)
    modes: tuple[str, ...]
    factory: str  # "module:function" (effnet.backends.load) returning a Step
    engine_modes: tuple[str, ...] = ()  # modes with a training-engine step (bench.engine_steps)
    engine: str | None = None  # "module:function" returning that Step

    def step(self, *args: Any) -> Step:
        return backends.load(self.factory)(*args)

    def engine_step(self, *args: Any, data: str | None = None) -> Step:
        assert self.engine is not None, f"{self.name} has no engine step"
        return backends.load(self.engine)(*args, data=data)

    def modes_for(self, step: str) -> tuple[str, ...]:
        """The modes this implementation is measured in for ``step`` (bare, engine, end-to-end)."""
        if step == "bare":
            return self.modes
        if step == "end-to-end" and not self.ours:
            return ()
        return self.engine_modes


# the references each of our backends is measured against
REFERENCES: tuple[Impl, ...] = (
    Impl(
        "torchvision",
        False,
        "torch",
        {},
        ("eager NCHW", "eager channels_last"),
        f"{__name__}:torch_reference",
    ),
    Impl(
        "timm",
        False,
        "torch",
        {},
        TIMM_MODES,
        f"{__name__}:timm_bare",
        TIMM_MODES,
        "effnet.bench.engine_steps:timm_train_py",
    ),
    Impl(
        "keras-tf",
        False,
        "tf",
        {"KERAS_BACKEND": "tensorflow"},
        ("no XLA", "xla"),
        f"{__name__}:keras_reference",
    ),
    Impl("keras-jax", False, "jax", {"KERAS_BACKEND": "jax"}, ("jit",), f"{__name__}:keras_reference"),
)


def _implementations() -> dict[str, Impl]:
    """Ours (every registered backend with bench steps, ``effnet.backends``), then the references."""
    ours = {
        b.name: Impl(
            b.name,
            True,
            b.name,
            dict(b.env),
            b.bench_modes,
            b.bench,
            tuple(m for m in b.bench_modes if m in ENGINE_MODES.get(b.name, {})),
            f"effnet.bench.engine_steps:{b.name}_ours" if b.name in ENGINE_MODES else None,
        )
        for b in backends.registry().values()
        if b.bench is not None
    }
    return {**ours, **{r.name: r for r in REFERENCES}}


IMPLS: dict[str, Impl] = _implementations()


def environment(impl: Impl) -> dict[str, str]:
    """Every worker gets the same process environment: its backend's variables and huge pages for
    malloc (``effnet.malloc``; it speeds up XLA:CPU steps and leaves PyTorch and TF unchanged)."""
    env = malloc.environment(os.environ)
    env.update(impl.env)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env
