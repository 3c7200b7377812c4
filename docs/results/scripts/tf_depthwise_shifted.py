"""A diagnostic behind ``docs/results/bench-engine-efficientnetv2-s-cpu.md``, not part of the package:
TensorFlow's native depthwise convolution against the same convolution written as k x k shifted
multiply-adds (the formulation that made JAX's CPU step faster), forward and backward, at the
depthwise shapes of EfficientNetV2-S at 128 px (batch 16). Prints median milliseconds per step.

Usage: ``python docs/results/scripts/tf_depthwise_shifted.py``
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

# (input NHWC, kernel size, stride): V2-S's MBConv stages at 128 px, and one large map for contrast
SHAPES = [
    ((16, 16, 16, 256), 3, 2),
    ((16, 8, 8, 512), 3, 1),
    ((16, 8, 8, 768), 3, 2),
    ((16, 8, 8, 960), 3, 1),
    ((16, 4, 4, 1536), 3, 1),
    ((16, 64, 64, 96), 3, 1),
]


def shifted(x: tf.Tensor, kernel: tf.Tensor, stride: int) -> tf.Tensor:
    kh, kw = kernel.shape[0], kernel.shape[1]
    padded = tf.pad(x, [[0, 0], [kh // 2, kh // 2], [kw // 2, kw // 2], [0, 0]])
    height, width = x.shape[1], x.shape[2]
    taps = [
        padded[:, i : i + height : stride, j : j + width : stride, :] * kernel[i, j, :, 0]
        for i in range(kh)
        for j in range(kw)
    ]
    return tf.add_n(taps)


def native(x: tf.Tensor, kernel: tf.Tensor, stride: int) -> tf.Tensor:
    return tf.nn.depthwise_conv2d(x, kernel, [1, stride, stride, 1], "SAME")


def time_ms(
    fn: Callable[[tf.Tensor, tf.Tensor, int], tf.Tensor], shape: tuple[int, ...], size: int, stride: int
) -> float:
    rng = np.random.default_rng(0)
    x = tf.Variable(rng.standard_normal(shape, dtype=np.float32))
    kernel = tf.Variable(0.1 * rng.standard_normal((size, size, shape[-1], 1), dtype=np.float32))

    @tf.function
    def step() -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            y = fn(x, kernel, stride)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, kernel])

    step()
    times = []
    for _ in range(20):
        started = time.perf_counter()
        step()[0].numpy()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def main() -> None:
    for shape, size, stride in SHAPES:
        ours, theirs = time_ms(shifted, shape, size, stride), time_ms(native, shape, size, stride)
        ratio = ours / theirs
        print(f"{shape} k{size} s{stride}: native {theirs:.2f} ms, shifted {ours:.2f} ms, ratio {ratio:.1f}")


if __name__ == "__main__":
    main()
