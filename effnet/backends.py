"""The backend registry: the one table of backends that every layer above reads.

A backend is a package that builds models from a resolved spec. Its row says where each thing it
provides lives, as ``"module:object"`` strings imported only on use (so a missing framework never
breaks an import, and this module depends on nothing but the standard library; ``noxfile.py`` reads
it by path before anything is installed):

==========  ===================  ======================================================================
field       read by              meaning
==========  ===================  ======================================================================
builder     ``convert --check``  ``from_spec(ms, include_top=...)`` -> a model
adapter     conformance suite    the conformance adapter (``effnet.conformance.backends.Adapter``)
engine      ``effnet train``     ``create_engine(ms, recipe, seed, devices=, execution=)`` (None: no training)
bench       ``effnet bench``     the benchmark's step factory (None: not benchmarked)
bench_modes ``effnet bench``     the benchmark's execution modes for this backend
weights     ``effnet convert``   the weight format (``effnet.weights_convert.formats``) it reads natively
extra       install hints        ``pip install "effnet-spec[<extra>]"`` installs its framework
env         bench workers, nox   process environment it needs (e.g. ``KERAS_BACKEND``)
==========  ===================  ======================================================================

Adding a backend is one row here (or, from another distribution, an entry point in the group
``effnet.backends`` whose object is a :class:`Backend`) plus its package.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

ENTRY_POINT_GROUP = "effnet.backends"
# the environment variable that selects the backends a test run covers (nox sets it per session)
SELECT_ENV = "EFFNET_BACKEND"


@dataclass(frozen=True)
class Backend:
    name: str
    package: str
    framework: str  # what a user installs, in words
    extra: str | None  # the pip extra that installs the framework
    builder: str
    adapter: str
    weights: str
    engine: str | None = None
    bench: str | None = None
    bench_modes: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # the top-level modules its framework installs

    @property
    def trains(self) -> bool:
        return self.engine is not None

    def installed(self) -> bool:
        """Whether its framework's modules are present (found, not imported: that takes seconds)."""
        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    def install_hint(self) -> str:
        return f'pip install "effnet-spec[{self.extra}]"' if self.extra else f"install {self.framework}"


BUILTIN: tuple[Backend, ...] = (
    Backend(
        name="torch",
        package="effnet.impl_torch",
        framework="PyTorch",
        extra="torch",
        builder="effnet.impl_torch:from_spec",
        adapter="effnet.conformance.adapters.ours_torch:ADAPTER",
        weights="torch",
        engine="effnet.impl_torch.train:create_engine",
        bench="effnet.bench.steps:torch_ours",
        bench_modes=("eager NCHW", "eager channels_last", "compile channels_last"),
        requires=("torch",),
    ),
    Backend(
        name="jax",
        package="effnet.impl_jax",
        framework="JAX + Flax NNX",
        extra="jax",
        builder="effnet.impl_jax:from_spec",
        adapter="effnet.conformance.adapters.ours_jax:ADAPTER",
        weights="flax",
        engine="effnet.impl_jax.train:create_engine",
        bench="effnet.bench.steps:jax_ours",
        bench_modes=("jit depthwise=xla", "jit depthwise=shifted", "nnx.jit depthwise=shifted"),
        requires=("jax", "flax", "optax"),
    ),
    Backend(
        name="tf",
        package="effnet.impl_tf",
        framework="Keras 3 on TensorFlow",
        extra="tf",
        builder="effnet.impl_tf:from_spec",
        adapter="effnet.conformance.adapters.ours_tf:ADAPTER",
        weights="keras",
        engine="effnet.impl_tf.train:create_engine",
        bench="effnet.bench.steps:tf_ours",
        bench_modes=("no XLA", "xla"),
        env={"KERAS_BACKEND": "tensorflow"},
        requires=("tensorflow", "keras"),
    ),
)


class UnknownBackend(ValueError):
    """A name that no registry row has."""


class BackendUnavailable(RuntimeError):
    """A registered backend whose framework is not installed."""


def _from_entry_points() -> list[Backend]:
    rows = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        row = ep.load()
        if not isinstance(row, Backend):
            raise TypeError(
                f"entry point {ep.name!r} in {ENTRY_POINT_GROUP} is not an effnet Backend: {row!r}"
            )
        rows.append(row)
    return rows


@lru_cache(maxsize=1)
def registry() -> dict[str, Backend]:
    """Every backend: the built-in rows, then those other distributions register."""
    table: dict[str, Backend] = {}
    for row in (*BUILTIN, *_from_entry_points()):
        if row.name in table:
            raise ValueError(
                f"backend {row.name!r} is registered twice ({table[row.name].package}, {row.package})"
            )
        table[row.name] = row
    return table


def names(*, trains: bool = False) -> tuple[str, ...]:
    """Backend names, in registry order (``trains=True``: only those with a training engine)."""
    return tuple(n for n, b in registry().items() if b.trains or not trains)


def get(name: str) -> Backend:
    table = registry()
    if name not in table:
        raise UnknownBackend(f"unknown backend {name!r}; known: {', '.join(table)}")
    return table[name]


def load(reference: str) -> Any:
    """Import ``"module:object"`` (an attribute path after the colon)."""
    module_name, _, attribute = reference.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj


def provide(name: str, what: str) -> Any:
    """What backend ``name`` provides as ``what`` (a field: builder, adapter, engine, bench), imported
    now. Raises :class:`BackendUnavailable` naming the install command when its framework is missing."""
    backend = get(name)
    reference = getattr(backend, what)
    if reference is None:
        raise BackendUnavailable(f"backend {name!r} provides no {what}")
    try:
        return load(reference)
    except ImportError as err:
        raise BackendUnavailable(
            f"backend {name!r} is not installed ({err}); {backend.install_hint()}"
        ) from err
