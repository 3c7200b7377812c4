"""The properties, as functions that measure and explain. Each returns a ``Result`` with the worst
relative error and, when over its bound, the first diverging named tensor in network order, e.g.
``blocks.3 (mbconv k5 s2 se) max|Δ|=3.1e-04 rel=2.0e-04 > 1e-05 [torch vs numpy, eval, 2x37x41]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from effnet.spec import ModelSpec, canonical, reference

from .backends import Adapter, Weights
from .tolerances import tolerance

TRAINABLE_STATS = (".bn.mean", ".bn.var")


@dataclass(frozen=True)
class Result:
    label: str
    max_rel: float
    bound: float
    first_divergence: str | None

    @property
    def ok(self) -> bool:
        return self.first_divergence is None

    def __str__(self) -> str:
        if self.ok:
            return f"{self.label}: max rel {self.max_rel:.2e} <= {self.bound:g}"
        return f"{self.label}: {self.first_divergence}"


def trains(adapter: Adapter) -> bool:
    """Whether an adapter can take a gradient step (inference-only adapters cannot)."""
    return callable(getattr(adapter, "train_step", None))


def describe(ms: ModelSpec, name: str) -> str:
    """Context for a named tensor: the block's kind, kernel, stride, SE and channels."""
    for b in ms.blocks:
        if name == b.name or name.startswith(b.name + "."):
            se = " se" if b.se else ""
            return f"{b.kind} k{b.kernel} s{b.stride}{se}, {b.in_channels}->{b.out_channels}"
    places = {
        "stem": "stem conv",
        "head": "head conv",
        "pre_logits": "pooled features",
        "logits": "classifier",
    }
    return places.get(name.split(".")[0], "classifier" if name.startswith("classifier") else "tensor")


def rel_error(got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    diff = (
        float(np.abs(np.asarray(got, np.float64) - np.asarray(expected, np.float64)).max())
        if np.size(expected)
        else 0.0
    )
    scale = float(np.abs(expected).max()) if np.size(expected) else 0.0
    return diff, diff / scale if scale > 0 else diff


def compare(
    ms: ModelSpec,
    got: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    bound: float,
    label: str,
    where: str,
    floor: float = 0.0,
) -> Result:
    """Compare two dicts of named tensors in ``expected``'s order; report the first over ``bound``."""
    missing = [k for k in expected if k not in got]
    if missing:
        return Result(label, float("inf"), bound, f"missing tensors {missing[:5]} [{where}]")
    worst, first = 0.0, None
    for name, exp in expected.items():
        if np.shape(got[name]) != np.shape(exp):
            return Result(
                label,
                float("inf"),
                bound,
                f"{name}: shape {np.shape(got[name])} != {np.shape(exp)} [{where}]",
            )
        diff, rel = rel_error(got[name], exp)
        if floor > 0.0:
            rel = diff / max(float(np.abs(exp).max()) if np.size(exp) else 0.0, floor)
        worst = max(worst, rel)
        if first is None and rel > bound:
            first = f"{name} ({describe(ms, name)}) max|Δ|={diff:.2e} rel={rel:.2e} > {bound:g} [{where}]"
    return Result(label, worst, bound, first)


def _shape(x: np.ndarray) -> str:
    return "x".join(str(d) for d in (x.shape[0], x.shape[1], x.shape[2]))


def eval_vs_reference(adapter: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray) -> Result:
    model = adapter.build(ms)
    adapter.set_state(model, weights)
    got = adapter.forward(model, x)
    expected = reference.forward(ms, weights, x).intermediates
    return compare(
        ms, got, expected, tolerance("float32", "eval"), "eval", f"{adapter.name} vs numpy, eval, {_shape(x)}"
    )


def eval_pair(a: Adapter, b: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray) -> Result:
    outs = []
    for adapter in (a, b):
        model = adapter.build(ms)
        adapter.set_state(model, weights)
        outs.append(adapter.forward(model, x))
    return compare(
        ms, outs[0], outs[1], tolerance("float32", "eval"), "eval", f"{a.name} vs {b.name}, eval, {_shape(x)}"
    )


def _train_forward(
    adapter: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray
) -> tuple[dict[str, np.ndarray], Weights]:
    model = adapter.build(ms)
    adapter.set_state(model, weights)
    out = adapter.forward(model, x, training=True)
    state = adapter.get_state(model)
    return out, {k: v for k, v in state.items() if k.endswith(TRAINABLE_STATS)}


def train_vs_reference(adapter: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray) -> Result:
    """Train-mode forward (batch statistics; dropout and drop-path must be 0 in ``ms``) and the
    updated running statistics, against the numpy reference."""
    got, stats = _train_forward(adapter, ms, weights, x)
    ref = reference.forward(ms, weights, x, training=True)
    where = f"{adapter.name} vs numpy, train, {_shape(x)}"
    bound = tolerance("float32", "train")
    first = compare(ms, got, ref.intermediates, bound, "train", where)
    second = compare(ms, stats, ref.new_stats, bound, "train", where + ", running stats")
    return worse(first, second)


def train_pair(a: Adapter, b: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray) -> Result:
    (ga, sa), (gb, sb) = (_train_forward(ad, ms, weights, x) for ad in (a, b))
    where = f"{a.name} vs {b.name}, train, {_shape(x)}"
    bound = tolerance("float32", "train")
    return worse(
        compare(ms, ga, gb, bound, "train", where),
        compare(ms, sa, sb, bound, "train", where + ", running stats"),
    )


def worse(first: Result, second: Result) -> Result:
    """One result for two checks of one level: the larger error, the first divergence found."""
    return Result(
        first.label,
        max(first.max_rel, second.max_rel),
        first.bound,
        first.first_divergence or second.first_divergence,
    )


def _step(adapter: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray, labels: np.ndarray, lr: float):  # noqa: ANN202
    model = adapter.build(ms)
    adapter.set_state(model, weights)
    return adapter.train_step(model, x, labels, lr)


def grads_pair(
    a: Adapter, b: Adapter, ms: ModelSpec, weights: Weights, x: np.ndarray, labels: np.ndarray
) -> Result:
    """Gradients of the loss w.r.t. every canonical parameter, and the state after one SGD step."""
    ra, rb = _step(a, ms, weights, x, labels, 0.1), _step(b, ms, weights, x, labels, 0.1)
    where = f"{a.name} vs {b.name}, grad, {_shape(x)}"
    # max|a - b| / max|b| over the whole gradient (all parameters as one vector, as the field's
    # checks treat all outputs): a tensor's own small or zero gradient (a BN bias before a batch-
    # statistics BN; a reduced sum with cancellation) then holds fp32 noise without false alarms, and a
    # wrong gradient anywhere still shows as a large fraction of the gradient's scale.
    floor = max((float(np.abs(g).max()) for g in rb.grads.values() if np.size(g)), default=0.0)
    grads = compare(ms, ra.grads, rb.grads, tolerance("float32", "grad"), "grad", where, floor=floor)
    update = compare(
        ms, ra.state, rb.state, tolerance("float32", "train"), "grad", where + ", after SGD step"
    )
    return worse(grads, update)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def grads_vs_reference(
    adapter: Adapter,
    ms: ModelSpec,
    weights: Weights,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    per_tensor: bool = True,
    seed: int = 0,
) -> Result:
    """Single-backend gradient check: the backend's gradient along a random direction v against the
    float64 central difference of the numpy reference's train-mode loss,
    ``|g.v - (L(w+ev) - L(w-ev)) / 2e| / sum|g_k v_k|`` -- for each parameter tensor on its own
    (``per_tensor``, so a wrong small tensor cannot hide behind large ones) or all at once.
    Each tensor's direction is scaled by its RMS so the step is relative; e = 1e-6 keeps the
    truncation error (BN's curvature) below fp32 noise."""
    grads = _step(adapter, ms, weights, x, labels, 0.0).grads  # the model and its new state are freed
    # Memory: the float64 directions and one float64 copy of the weights (the moved point) are the only
    # full-size arrays beside the gradients -- EfficientNet-L2 has 480M parameters, 3.8 GB per copy.
    rng = np.random.default_rng(seed)
    rms = {k: float(np.sqrt(np.mean(np.square(weights[k], dtype=np.float64)))) for k in grads}
    direction = {k: rng.standard_normal(g.shape) * (rms[k] + 1e-3) for k, g in grads.items()}
    groups = [[k] for k in grads] if per_tensor else [list(grads)]
    bound, eps = tolerance("float32", "grad"), 1e-6
    where = f"{adapter.name} vs numpy finite difference, grad, {_shape(x)}"

    def loss_at(keys: list[str], sign: float) -> float:
        moved = {k: np.asarray(v, np.float64) for k, v in weights.items()}
        for k in keys:
            moved[k] = moved[k] + sign * eps * direction[k]  # never in place: v may be the caller's
        return softmax_cross_entropy(reference.forward(ms, moved, x, training=True).logits, labels)

    # A tensor whose true gradient is ~0 (a BN bias followed by another batch-statistics BN) has only
    # rounding noise left; judge such tensors against 1e-2 of an average tensor's contribution.
    contribution = {k: float(np.abs(grads[k] * direction[k]).sum()) for k in grads}
    floor = 1e-2 * sum(contribution.values()) / max(len(contribution), 1)
    worst, first = 0.0, None
    for keys in groups:
        projected = sum(float((grads[k] * direction[k]).sum()) for k in keys)
        scale = max(sum(contribution[k] for k in keys), floor, 1e-30)
        numeric = (loss_at(keys, 1.0) - loss_at(keys, -1.0)) / (2 * eps)
        rel = abs(projected - numeric) / scale
        worst = max(worst, rel)
        if first is None and rel > bound:
            name = keys[0] if per_tensor else "all parameters"
            first = (
                f"{name}: d/dv {projected:.6e} vs numeric {numeric:.6e}, rel {rel:.2e} > {bound:g} [{where}]"
            )
    return Result("grad", worst, bound, first)


def roundtrip(adapter: Adapter, ms: ModelSpec, weights: Weights) -> Result:
    """Canonical state -> backend -> canonical is bit-exact, with exactly the canonical key set."""
    model = adapter.build(ms)
    adapter.set_state(model, weights)
    back = adapter.get_state(model)
    where = f"{adapter.name} round trip"
    problems = canonical.check(ms, back)
    if problems:
        return Result("roundtrip", float("inf"), 0.0, f"state differs: {problems.describe(5)} [{where}]")
    for name in canonical.shapes(ms):
        if not np.array_equal(back[name], np.asarray(weights[name], np.float32)):
            diff, rel = rel_error(back[name], weights[name])
            return Result(
                "roundtrip",
                rel,
                0.0,
                f"{name} ({describe(ms, name)}) not bit-exact: max|Δ|={diff:.2e} [{where}]",
            )
    return Result("roundtrip", 0.0, 0.0, None)
