"""``StateJit``: ``jax.jit`` of a function that updates NNX objects in place, run on their state as a
flat list of arrays.

``nnx.jit`` walks the module graph in Python on every call, before and after the compiled step: for
an EfficientNetV2-S training step on a 2-core CPU about 35 ms per call against 3 ms here (measured
at 8 px; at 128-192 px JAX's asynchronous dispatch hides it behind the previous step). Here the
graph is split once; each call hands XLA only the array leaves and gets the updated leaves back. The
objects themselves see the new state only when ``sync()`` writes it into them. The leaves are not
donated: objects sharing an array (an EMA copied from its model) would donate one buffer twice.

Rules for users: call ``sync()`` before reading the objects outside the step, and build a new
``StateJit`` after changing them (their weights, a dropout rate, train/eval mode)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jax
from flax import nnx


@lru_cache(maxsize=64)
def _jitted(fn: Callable[..., Any], graphdef: Any, treedef: Any) -> Callable[..., Any]:
    """One jitted step per function and graph structure, looked up once per ``StateJit`` (hashing a
    graph definition takes ~10 ms, too long to repeat on every call as a static argument)."""

    def pure(leaves: list[jax.Array], *args: Any) -> tuple[Any, list[jax.Array]]:
        # copy=True: fresh Variables inside this trace, so fn may mutate them under nnx transforms
        objects = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves), copy=True)
        out = fn(*objects, *args)
        return out, jax.tree.leaves(nnx.state(objects))

    return jax.jit(pure)


class StateJit:
    def __init__(self, fn: Callable[..., Any], *objects: Any) -> None:
        """``fn(*objects, *args)`` may mutate the objects (parameters, batch statistics, RNG state);
        ``StateJit(fn, *objects)(*args)`` returns what ``fn`` returns. One compilation per function,
        graph structure and argument shapes, shared by every ``StateJit`` of them."""
        self.objects = objects
        self._graphdef, state = nnx.split(objects)
        self._leaves, self._treedef = jax.tree.flatten(state)
        self._step = _jitted(fn, self._graphdef, self._treedef)

    def __call__(self, *args: Any) -> Any:
        out, self._leaves = self._step(self._leaves, *args)
        return out

    def sync(self) -> None:
        """Write the current state into the objects."""
        nnx.update(self.objects, jax.tree.unflatten(self._treedef, self._leaves))
