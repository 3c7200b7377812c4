"""The two padding conventions, defined once for every backend and the numpy reference.

- ``tf_same`` (TF/Keras/Flax 'SAME'): output ceil(n / s); the total pad is split with the extra
  pixel at the bottom/right. Depends on the input size, so backends compute it at run time.
- ``symmetric`` (torchvision, non-tf timm): k // 2 on every side, independent of the input.
For odd kernels both give the same output size, ceil(n / s).
"""

from __future__ import annotations


def output_size(size: int, stride: int) -> int:
    """ceil(size / stride), in integer arithmetic only (see ``tf_same_pads``)."""
    return (size + stride - 1) // stride


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) for one spatial dimension; TF SAME pads the extra pixel after.

    The total is ``max((ceil(n / s) - 1) * s + k - n, 0)``; the ``max`` is needed only when k < s
    (otherwise the total is at least k - s >= 0), which is known before any size is. Integer ``+``,
    ``*`` and ``//`` only, with no comparison on the size: a symbolic size (an exported graph's
    run-time height) stays symbolic, so the exported graph computes its pads from the input it is
    given, not from the size it was traced at; and the padded conv's output size simplifies to
    ``ceil(n / s)`` exactly, which lets a tracer prove bounds on every later size.
    """
    total = (output_size(size, stride) - 1) * stride + kernel - size
    if kernel < stride:
        total = max(total, 0)
    return total // 2, total - total // 2


def symmetric_pads(kernel: int) -> tuple[int, int]:
    return kernel // 2, kernel // 2


def static_pads(padding: str, kernel: int, stride: int) -> tuple[int, int] | None:
    """The pads when they do not depend on the input size, else None (TF SAME with stride > 1)."""
    if padding == "symmetric":
        return symmetric_pads(kernel)
    if stride == 1:
        return tf_same_pads(kernel, kernel, 1)  # total k - 1 for any size
    return None


def pads(padding: str, size: int, kernel: int, stride: int) -> tuple[int, int]:
    if padding == "tf_same":
        return tf_same_pads(size, kernel, stride)
    if padding == "symmetric":
        return symmetric_pads(kernel)
    raise ValueError(f"unknown padding {padding!r}")
