"""The one tolerance table. Every comparison in the project looks its bound up here; nothing sets a
tolerance inline. Errors are relative to the reference's scale: ``max|a - b| / max|b|`` (random-init
networks can blow up or vanish, so absolute bounds mean little).

Calibration against the bounds other projects use for the same comparisons:
- transformers ``check_pt_tf_outputs``: PT<->TF/Flax random init, every output, max abs <= 1e-5;
- sebastian-sz/efficientnet-v2-keras: converted checkpoint logits, atol = rtol = 1e-5;
- timm golden tensors: rtol 1e-3, atol 1e-4; nobuco per node: 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dtype = Literal["float32", "float64", "bfloat16"]
Mode = Literal["eval", "train", "grad", "update", "engine", "roundtrip", "data_parallel"]


@dataclass(frozen=True)
class Tolerance:
    max_rel: float
    why: str


TOLERANCES: dict[tuple[Dtype, Mode], Tolerance] = {
    # fp32 eval forward, any two implementations (ours vs torchvision/timm/keras, backend vs backend,
    # backend vs the float64 numpy oracle). The bound and the transformers PT<->TF bound; fp32
    # accumulation over ~100 layers of different kernel orderings stays ~1e-6 relative.
    ("float32", "eval"): Tolerance(
        1e-5, "transformers check_pt_tf_outputs 1e-5; keras-effnetv2 conversion 1e-5"
    ),
    # fp32 train-mode forward (batch-statistics BN): BN divides by the batch std, which amplifies
    # rounding of small-variance channels; timm's golden-tensor atol 1e-4 is the field's bound.
    ("float32", "train"): Tolerance(1e-4, "batch-statistics BN amplifies rounding; timm golden atol 1e-4"),
    # fp32 gradients: backprop through ~300 ops sums rounding of both passes; nobuco per-node 1e-4.
    # Between backends the error is relative to the whole gradient's scale (checks.grads_pair); each
    # tensor is also checked on its own scale against float64 finite differences (grads_vs_reference).
    ("float32", "grad"): Tolerance(1e-4, "backward accumulates forward and backward rounding; nobuco 1e-4"),
    # fp32 parameters/BN statistics after one optimizer step: the step changes weights by lr * grad, so
    # the updated tensors agree to the gradient bound scaled down by lr; we keep the eval bound.
    ("float32", "update"): Tolerance(1e-5, "updated weights = w - lr*g; differences enter only through lr*g"),
    # two backends' training engines after a few full-recipe steps from the same weights on the same
    # batches (tests/conformance/test_engines.py), as the L2 norm of the weights' difference over the norm
    # of their change: RMSProp divides each gradient by its running RMS, so every update carries the
    # gradient's relative error between frameworks, and the EMA is a mean of such weights: the grad bound.
    ("float32", "engine"): Tolerance(
        1e-4, "RMSProp's normalised update carries the gradients' cross-framework error (the grad bound)"
    ),
    # data parallel (N replicas vs one on the same global batch, a few optimizer steps): the same math with
    # global-batch BN statistics; only the summation order of the BN moments and gradient all-reduce
    # differ (~1e-7 per sum). Losses and updated weights: the update bound.
    ("float32", "data_parallel"): Tolerance(
        1e-5, "same global-batch math; only reduction order differs (BN moments, gradient all-reduce)"
    ),
    # one layer's hand-written gradient against JAX's automatic one, both float64 (impl_jax.fused): the
    # same math summed in another order; float64 rounding (1e-16) over at most a few thousand terms.
    ("float64", "grad"): Tolerance(1e-12, "same float64 math, another summation order; eps 1e-16 x terms"),
    # weight conversions are pure copies and transposes: bit-exact.
    ("float32", "roundtrip"): Tolerance(0.0, "conversion is a copy/transpose: bit-exact"),
    # bf16 compute (8-bit mantissa: unit roundoff 2^-8 = 3.9e-3 per op) against fp32 or the float64
    # oracle. The field's per-op bound for bf16 is torch.testing.assert_close's default, rtol 1.6e-2 (the
    # PyTorch docs' default-tolerance table, docs.pytorch.org/docs/stable/testing.html); a network
    # compounds ~100 such ops, so a whole eval forward gets 5e-2 relative to the logits' scale
    # (measured, tiny spec with calibrated weights, each engine's bf16 eval: 7-8e-3).
    ("bfloat16", "eval"): Tolerance(
        5e-2, "bf16 has an 8-bit mantissa (~4e-3 per op), errors compound over depth"
    ),
    # a bf16 training run against the fp32 run from the same seed on the same batches: every step's mean
    # loss. The loss is a mean over the batch of log-softmax terms, which averages the logits' rounding;
    # the per-op bound of the field (torch.testing bf16 rtol 1.6e-2) holds it (measured over 6 steps,
    # tiny spec: 6.5e-4 to 7.3e-4 in the three engines).
    ("bfloat16", "train"): Tolerance(1.6e-2, "mean loss of a bf16 forward; torch.testing bf16 rtol 1.6e-2"),
    # the same runs' weights (live and EMA) after N optimizer steps, as the L2 norm of (bf16 - fp32) over
    # the L2 norm of the fp32 run's change: RMSProp divides each gradient by its running RMS, so the
    # update carries the gradient's relative bf16 error (forward + backward over depth), bounded as the
    # eval forward (measured after 6 steps: 0.5% JAX, 0.7% TF, 1.9% torch).
    ("bfloat16", "update"): Tolerance(
        5e-2, "RMSProp's normalised update inherits the bf16 gradient's relative error; as the eval bound"
    ),
}


# Statistical comparisons (tests/conformance/test_regularization.py: two engines' losses under random
# dropout and drop-path draws). Each compares sample statistics, not values, and fails when they differ
# by more than SAMPLING_Z of their combined standard errors: for a correct pair that happens with
# probability 6e-7 per comparison (two-sided normal tail at 5 sigma), the physics community's
# discovery threshold, so the test does not flake.
SAMPLING_Z = 5.0


def tolerance(dtype: Dtype, mode: Mode) -> float:
    return TOLERANCES[(dtype, mode)].max_rel
