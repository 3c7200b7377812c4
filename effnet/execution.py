"""How a training step executes (``effnet train --precision/--memory-format/--compile/--xla``), and
the one place where the per-device defaults are decided (:func:`defaults`).

- ``precision``: ``fp32``; ``bf16`` or ``fp16`` compute with float32 parameters, batch-norm
  statistics, optimizer state and EMA in every backend (torch ``autocast``, a Keras
  ``mixed_bfloat16`` / ``mixed_float16`` dtype policy, the JAX model's compute ``dtype``). Checkpoints
  hold the float32 state, so they are the same whatever the precision. fp16 always scales the loss
  (dynamic loss scaling: initial scale 2**15, doubled after 2000 finite steps, halved and the step
  skipped when a gradient is not finite; ``torch.amp.GradScaler``, ``keras.mixed_precision
  .LossScaleOptimizer``, and the same rule written out for JAX): fp16 has 5 exponent bits, so small
  gradients underflow to zero without it. There is no fp16 without loss scaling.
- ``memory_format`` (torch only): ``contiguous`` (NCHW) or ``channels_last`` (NHWC in memory).
  JAX and Keras on TensorFlow compute NHWC already; the option is refused for them.
- ``compile`` (torch only): ``torch.compile`` the model's forward (backward through AOTAutograd).
- ``xla`` (TF only): ``tf.function(jit_compile=True)`` for the train and eval steps. JAX always
  compiles its step with XLA (``jax.jit``); the option is refused for it.

Resume: the checkpoint records the run's execution; a resumed run may use another (a bf16 run can
be resumed in fp32 and the other way round) because the saved state is float32 and canonical
whatever the precision. The change is printed and every epoch's record says what it ran with. A
fp16 run's loss scale is saved with it and restored when it is resumed in fp16; resumed in fp16 from
another precision, the scale starts at 2**15.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from effnet.errors import TrainError

Precision = Literal["fp32", "bf16", "fp16"]
MemoryFormat = Literal["contiguous", "channels_last"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
MEMORY_FORMATS: tuple[str, ...] = ("contiguous", "channels_last")

# dynamic loss scaling for fp16, one rule in the three backends (Keras LossScaleOptimizer's defaults)
LOSS_SCALE_INITIAL = 2.0**15
LOSS_SCALE_GROWTH_STEPS = 2000

# which options each backend takes, and why another backend refuses it
_OWNER = {"memory_format": "torch", "compile": "torch", "xla": "tf"}
_OPTION = {"memory_format": "--memory-format", "compile": "--compile", "xla": "--xla"}
_WHY = {
    ("memory_format", "jax"): "jax computes NHWC, there is no layout to choose",
    ("memory_format", "tf"): "Keras on TensorFlow computes NHWC, there is no layout to choose",
    ("compile", "jax"): "jax always compiles its step with XLA (jax.jit)",
    ("compile", "tf"): "for tf, --xla compiles the step (jit_compile)",
    ("xla", "jax"): "jax always compiles its step with XLA (jax.jit)",
    ("xla", "torch"): "for torch, --compile compiles the model (torch.compile)",
}


@dataclass(frozen=True)
class Execution:
    """What the user asked for (``None``: the device's default, see :func:`defaults`), or, once
    :meth:`resolved`, what the engine runs (``None``: the option does not apply to the backend)."""

    precision: Precision | None = None
    memory_format: MemoryFormat | None = None
    compile: bool | None = None
    xla: bool | None = None

    def check(self, backend: str) -> None:
        """Refuse a value that is not one, or an option the backend does not take (:class:`TrainError`)."""
        if self.precision is not None and self.precision not in PRECISIONS:
            raise TrainError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.memory_format is not None and self.memory_format not in MEMORY_FORMATS:
            raise TrainError(
                f"memory format must be one of {', '.join(MEMORY_FORMATS)}, got {self.memory_format!r}"
            )
        for field, owner in _OWNER.items():
            if getattr(self, field) is not None and backend != owner:
                why = _WHY.get((field, backend), f"the {backend} backend does not take it")
                raise TrainError(f"{_OPTION[field]} is for --backend {owner} only: {why}")

    def resolved(self, backend: str, accelerator: bool) -> Execution:
        """The asked values, the device's defaults for the rest (after :meth:`check`)."""
        self.check(backend)
        default = defaults(backend, accelerator)
        return replace(default, **{k: v for k, v in asdict(self).items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """The options that apply (as recorded in checkpoints and epoch records)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.to_dict().items())


def defaults(backend: str, accelerator: bool) -> Execution:
    """The per-device defaults: the one place they are decided.

    On an accelerator: bf16 (the GPUs this targets, A100/H100/H200, run bf16 at several times their
    fp32 rate and need no loss scale for it), channels_last and torch.compile for torch, XLA for TF.
    Not measured here (no GPU was lent to this work): the issue's figures (timm V2-S AMP NHWC, NVIDIA's
    TF2 V2-S AMP+XLA) are the reason.

    On a CPU: fp32 everywhere, contiguous NCHW, no torch.compile, no XLA for TF, from
    :data:`CPU_MEASUREMENTS` (the engine's full train step, V2-B0, 128 px, batch 8; two configurations
    of one backend built side by side and timed round-robin, median of 5-10 rounds of 2 steps; a 2-core
    x86 CPU with AVX512-BF16, shared with other work, load average 6-8, so differences under ~25% are
    noise). JAX and TF: fp32 is the fastest. XLA makes the TF step 3x slower on the CPU (XLA:CPU's
    depthwise convolutions). torch: bf16 autocast was 1.0-1.3x faster than fp32 on this CPU, within
    the noise, and CPUs without native bf16 instructions emulate it; not a clear enough win to make
    reduced precision the silent default. channels_last tied with contiguous. torch.compile made the
    step ~2x faster but its first step took 166 s, paid again at each of the schedule's image sizes.
    """
    if accelerator:
        return Execution(
            precision="bf16",
            memory_format="channels_last" if backend == "torch" else None,
            compile=True if backend == "torch" else None,
            xla=True if backend == "tf" else None,
        )
    return CPU_DEFAULTS.get(backend, Execution(precision="fp32"))


# seconds per train step on the CPU, median (min) of the rounds; see defaults() for the method
CPU_MEASUREMENTS: dict[str, dict[str, str]] = {
    "torch": {
        "fp32 contiguous": "0.65 (0.43); again 0.81 (0.55)",
        "fp32 channels_last": "0.63 (0.50); again 1.07 (0.52)",
        "bf16 contiguous": "0.53 (0.46); again 0.78 (0.43)",
        "bf16 channels_last": "0.53 (0.38); again 0.58 (0.49)",
        "fp16 contiguous": "14.3 (11.7)",  # no fp16 kernels on this CPU
        "fp32 contiguous + torch.compile": "0.68 (0.56), first step 166 s (fp32 eager beside it: 1.79)",
    },
    "jax": {"fp32": "0.234 (0.227)", "bf16": "0.308 (0.284)"},
    "tf": {
        "fp32": "0.358 (0.292)",
        "fp32 xla": "1.075 (1.024)",
        "bf16": "0.406 (0.321)",
        "bf16 xla": "1.123 (1.005)",
    },
}
CPU_DEFAULTS: dict[str, Execution] = {
    "torch": Execution(precision="fp32", memory_format="contiguous", compile=False),
    "jax": Execution(precision="fp32"),
    "tf": Execution(precision="fp32", xla=False),
}
