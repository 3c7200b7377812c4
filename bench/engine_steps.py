"""The training step ``effnet train`` runs, as the benchmark times it (``effnet bench train --step
engine``): each backend's own engine (``training.engine.create``: RMSProp with the spec's recipe, EMA,
label smoothing, stochastic depth and dropout at the spec's rates, the requested precision, layout and
compilation), one ``train_step`` per call, exactly as the training loop calls it.

- ``engine`` rows feed it a synthetic batch made once (preprocessed NHWC images, label-smoothed soft
  labels);
- ``end-to-end`` rows feed it the real input pipeline (``training.pipeline``) on the built-in data,
  at the row's image size with the augmentation of the schedule stage closest to that size; the
  pipeline's time is part of each step, as it is in ``effnet train``.

The reference for the torch engine is timm's ``train.py`` step on the same architecture
(``tf_efficientnetv2_*``: TF-SAME padding, like ours): timm's RMSpropTF, weight decay as timm's
optimizer factory applies it, ``ModelEmaV3``, soft-target cross-entropy, drop path at the spec's
rate, the same autocast and memory format. Unlike ours it reads no metric back per step (timm logs
every N steps), which is the fair way to run it.

Modes are the bare step's mode names (``bench.steps``), so ``--modes`` selects both rows; the table
below says which execution each one asks the engine for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from effnet import spec
from effnet.execution import Execution
from effnet.spec import ModelSpec
from effnet.spec.recipe import Recipe, recipe

from .timing import Step

# (backend, bare-step mode) -> the engine's execution, and for JAX the depthwise kernel
ENGINE_MODES: dict[str, dict[str, dict[str, Any]]] = {
    "torch": {
        "eager NCHW": {"memory_format": "contiguous", "compile": False},
        "eager channels_last": {"memory_format": "channels_last", "compile": False},
        "compile channels_last": {"memory_format": "channels_last", "compile": True},
    },
    "jax": {"jit depthwise=xla": {"depthwise": "xla"}, "jit depthwise=shifted": {"depthwise": "shifted"}},
    "tf": {"no XLA": {"xla": False}, "xla": {"xla": True}},
}
# the timm train.py step: the torch reference's modes
TIMM_MODES: tuple[str, ...] = ("eager NCHW", "eager channels_last", "compile channels_last")
EPOCH_FOR_LR = 1.0  # the learning rate every timed step uses (past warm-up; its value costs nothing)


def bench_recipe(ms: ModelSpec, batch: int) -> Recipe:
    return recipe(ms.name, batch_size=batch)


def soft_labels(y: np.ndarray, num_classes: int, smoothing: float) -> np.ndarray:
    onehot = np.eye(num_classes, dtype=np.float32)[y]
    return onehot * (1.0 - smoothing) + smoothing / num_classes


def ours(
    backend: str,
    ms: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    mode: str,
    device: str,
    precision: str,
    data: str | None = None,
) -> Step:
    """Our engine's ``train_step``: on the synthetic batch, or (``data``) on the input pipeline."""
    from effnet.training.engine import create

    options = dict(ENGINE_MODES[backend][mode])
    depthwise = options.pop("depthwise", None)
    rec = bench_recipe(ms, len(x))
    engine = create(backend, ms, rec, seed=0, execution=Execution(precision=precision, **options))  # type: ignore[arg-type]
    if depthwise is not None:  # JAX: the kernel the mode names (effnet train picks by device)
        for model in (engine.model, engine.ema):  # type: ignore[attr-defined]
            model.set_depthwise_mode(depthwise)
    lr = rec.lr_at(EPOCH_FOR_LR)
    if data is None:
        soft = soft_labels(y, ms.num_classes, rec.label_smoothing)
        return Step(lambda: engine.train_step(x, soft, lr), lambda out: out)
    batches = pipeline_batches(ms, rec, x.shape[1], len(x), data)
    return Step(lambda: engine.train_step(*next(batches), lr), lambda out: out)


def torch_ours(*args: Any, **kwargs: Any) -> Step:
    return ours("torch", *args, **kwargs)


def jax_ours(*args: Any, **kwargs: Any) -> Step:
    return ours("jax", *args, **kwargs)


def tf_ours(*args: Any, **kwargs: Any) -> Step:
    return ours("tf", *args, **kwargs)


def data_folder(data: str) -> Any:
    """The scanned dataset ``--data`` names (``builtin``: the built-in data, generated once)."""

    from effnet.training.builtin import data_root
    from effnet.training.dataset import scan

    return scan(data_root(data))


def pipeline_batches(
    ms: ModelSpec, rec: Recipe, size: int, batch: int, data: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Training batches at ``size`` with the augmentation of the schedule stage nearest that size,
    epoch after epoch, as ``effnet train`` makes them."""
    from effnet.training.pipeline import Pipeline

    folder = data_folder(data)
    stage = min(spec.schedule(ms.name, "paper"), key=lambda s: abs(s.image_size - size))
    epoch = 0
    while True:
        pipe = Pipeline.for_stage(
            folder.train,
            stage,
            model=ms,
            recipe=rec,
            num_classes=len(folder.classes),
            batch_size=batch,
            image_size=size,
            epoch=epoch,
        )
        for b in pipe:
            yield b.x, b.y
        epoch += 1


def timm_train_py(
    ms: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    mode: str,
    device: str,
    precision: str,
    data: str | None = None,
) -> Step:
    """timm's ``train.py`` step on timm's model of the same architecture (see the module docstring)."""
    import timm
    import timm.loss
    import timm.optim
    import timm.utils
    import torch

    if data is not None:
        raise ValueError("the timm reference has no end-to-end row (it has no input pipeline of ours)")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    memory = torch.channels_last if "channels_last" in mode else torch.contiguous_format
    rec = bench_recipe(ms, len(x))
    net = timm.create_model(
        timm_name(ms),
        pretrained=False,
        num_classes=ms.num_classes,
        drop_rate=ms.dropout,
        drop_path_rate=ms.drop_path_rate,
    )
    net = net.to(dev, memory_format=memory).train()
    opt = timm.optim.create_optimizer_v2(
        net,
        "rmsproptf",
        lr=rec.lr_at(EPOCH_FOR_LR),
        weight_decay=rec.weight_decay,
        momentum=rec.momentum,
        eps=rec.epsilon,
        alpha=rec.rmsprop_decay,
    )
    ema = timm.utils.ModelEmaV3(net, decay=rec.ema_decay)
    loss_fn = timm.loss.SoftTargetCrossEntropy()
    model = torch.compile(net) if "compile" in mode else net
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dev).to(memory_format=memory)
    ty = torch.from_numpy(soft_labels(y, ms.num_classes, rec.label_smoothing)).to(dev)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    count = [0]

    def train() -> Any:
        with autocast:
            loss = loss_fn(model(tx).float(), ty)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        count[0] += 1
        ema.update(net, step=count[0])
        return loss

    sync = (lambda out: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda out: out.item())
    return Step(train, sync)


def timm_name(ms: ModelSpec) -> str:
    """timm's model of this architecture: its TF port (TF-SAME padding, as ours), else its own."""
    try:
        return spec.implementation_name(ms.name, "timm_tf")
    except spec.SpecError:
        return spec.implementation_name(ms.name, "timm")
