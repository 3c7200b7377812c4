"""The executable meaning of the spec: a plain-numpy forward pass (float64 by default).

``forward(ms, weights, x)`` takes a resolved ModelSpec, canonical weights (``spec.canonical``) and an
NHWC batch (already preprocessed: see :func:`preprocess`) and returns every named intermediate:
``stem``, ``blocks.{i}``, ``head`` (after the head conv/BN/act), ``pre_logits`` (pooled) and
``logits``. It is the conformance suite's oracle: written for clarity, fast enough for small models.

``training=True`` normalises with batch statistics (biased variance) and also returns the updated
running statistics: ``new = decay * old + (1 - decay) * batch`` with the *biased* batch variance,
as TF/Keras/Flax do (the spec's convention; torch's unbiased update is converted by its backend).
Dropout and drop-path are identity here: the oracle is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import canonical
from .errors import SpecError
from .model_spec import BlockSpec, ConvSpec, ModelSpec, Preprocessing, SESpec
from .padding import pads

Weights = dict[str, np.ndarray]


@dataclass
class Outputs:
    intermediates: dict[str, np.ndarray]
    new_stats: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def logits(self) -> np.ndarray:
        return self.intermediates["logits"]


def preprocess(p: Preprocessing, pixels: np.ndarray) -> np.ndarray:
    """[0, 255] RGB pixels (NHWC) -> network input."""
    return pixels * np.asarray(p.scale) + np.asarray(p.offset)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {"silu": silu, "relu": lambda x: np.maximum(x, 0.0), "sigmoid": sigmoid}


def pad_nhwc(x: np.ndarray, padding: str, kernel: int, stride: int) -> np.ndarray:
    (top, bottom) = pads(padding, x.shape[1], kernel, stride)
    (left, right) = pads(padding, x.shape[2], kernel, stride)
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def conv2d(
    x: np.ndarray, kernel: np.ndarray, stride: int, padding: str, depthwise: bool = False
) -> np.ndarray:
    """NHWC conv with an HWIO kernel ((kh, kw, 1, C) when depthwise)."""
    kh = kernel.shape[0]
    if kh == 1 and not depthwise:
        return x[:, ::stride, ::stride, :] @ kernel[0, 0]
    xp = pad_nhwc(x, padding, kh, stride)
    win = sliding_window_view(xp, (kh, kh), axis=(1, 2))[:, ::stride, ::stride]  # N,Ho,Wo,C,kh,kw
    if depthwise:
        return np.einsum("nhwcij,ijc->nhwc", win, kernel[:, :, 0, :], optimize=True)
    n, ho, wo, c = win.shape[:4]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, kh * kh * c)
    return (cols @ kernel.reshape(kh * kh * c, -1)).reshape(n, ho, wo, -1)


class _Runner:
    def __init__(self, ms: ModelSpec, w: Weights, training: bool, dtype: np.dtype) -> None:
        self.ms, self.training, self.new_stats = ms, training, {}
        self.w = {k: np.asarray(v, dtype=dtype) for k, v in w.items()}
        self.act = ACTIVATIONS[ms.activation]

    def batch_norm(self, name: str, x: np.ndarray) -> np.ndarray:
        scale, bias = self.w[f"{name}.bn.scale"], self.w[f"{name}.bn.bias"]
        mean, var = self.w[f"{name}.bn.mean"], self.w[f"{name}.bn.var"]
        if self.training:
            batch_mean, batch_var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
            d = self.ms.bn_decay
            self.new_stats[f"{name}.bn.mean"] = d * mean + (1 - d) * batch_mean
            self.new_stats[f"{name}.bn.var"] = d * var + (1 - d) * batch_var
            mean, var = batch_mean, batch_var
        return (x - mean) / np.sqrt(var + self.ms.bn_eps) * scale + bias

    def conv_bn(self, conv: ConvSpec, x: np.ndarray) -> np.ndarray:
        y = conv2d(x, self.w[f"{conv.name}.conv.kernel"], conv.stride, self.ms.padding, conv.depthwise)
        y = self.batch_norm(conv.name, y)
        return self.act(y) if conv.act else y

    def squeeze_excite(self, se: SESpec, x: np.ndarray) -> np.ndarray:
        s = x.mean(axis=(1, 2))
        s = ACTIVATIONS[self.ms.se_activation](
            s @ self.w[f"{se.name}.reduce.kernel"][0, 0] + self.w[f"{se.name}.reduce.bias"]
        )
        s = s @ self.w[f"{se.name}.expand.kernel"][0, 0] + self.w[f"{se.name}.expand.bias"]
        return x * ACTIVATIONS[self.ms.se_gate](s)[:, None, None, :]

    def block(self, block: BlockSpec, x: np.ndarray) -> np.ndarray:
        h = x
        for _, layer in block.layers:
            h = self.squeeze_excite(layer, h) if isinstance(layer, SESpec) else self.conv_bn(layer, h)
        return h + x if block.residual else h

    def run(self, x: np.ndarray, include_top: bool) -> Outputs:
        out: dict[str, np.ndarray] = {}
        h = out["stem"] = self.conv_bn(self.ms.stem, x)
        for block in self.ms.blocks:
            h = out[block.name] = self.block(block, h)
        h = out["head"] = self.conv_bn(self.ms.head, h)
        out["pre_logits"] = h.mean(axis=(1, 2))
        if include_top:
            out["logits"] = out["pre_logits"] @ self.w["classifier.kernel"] + self.w["classifier.bias"]
        return Outputs(out, self.new_stats)


def check_weights(ms: ModelSpec, weights: Weights, *, include_top: bool = True) -> None:
    """Raise SpecError listing every missing, unexpected or misshaped tensor."""
    problems = canonical.check(ms, weights, include_top=include_top)
    if problems:
        raise SpecError(f"weights do not match {ms.name}: {problems.describe()}")


def forward(
    ms: ModelSpec,
    weights: Weights,
    x: np.ndarray,
    *,
    training: bool = False,
    include_top: bool = True,
    dtype: type = np.float64,
) -> Outputs:
    """Run ``ms`` on the NHWC batch ``x`` with canonical ``weights``."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise SpecError(f"expected an NHWC batch with 3 channels, got shape {x.shape}")
    check_weights(ms, weights, include_top=include_top)
    return _Runner(ms, weights, training, np.dtype(dtype)).run(x.astype(dtype), include_top)


def random_weights(ms: ModelSpec, seed: int = 0, *, include_top: bool = True) -> Weights:
    """Random canonical weights with non-trivial BN statistics, so every path matters.

    Kernels are He-normal (fan-in), BN scale ~ U(0.5, 1.5), bias/mean ~ N(0, 0.1), var ~ U(0.5, 2):
    activations stay O(1) through deep stacks, which makes relative comparisons meaningful.
    """
    rng = np.random.default_rng(seed)
    out: Weights = {}
    for name, info in canonical.tensors(ms, include_top=include_top).items():
        shape = info.shape
        if info.role in ("conv", "depthwise", "se_conv", "dense"):
            fan_in = int(np.prod(shape[:-1]))
            arr = rng.normal(0.0, np.sqrt(2.0 / fan_in) * 0.5, shape)
        elif name.endswith(".bn.scale"):
            arr = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(".bn.var"):
            arr = rng.uniform(0.5, 2.0, shape)
        else:
            arr = rng.normal(0.0, 0.1, shape)
        out[name] = arr.astype(np.float32)
    return out
