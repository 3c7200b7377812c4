"""Conformance adapters: how the suite drives one implementation (``..protocol.Adapter``).

``ours_*`` drive this project's backends (each named by its row in ``effnet.backends``),
``reference_numpy`` the spec's own reference, ``library_*`` the implementations people use,
``exported`` the files ``effnet export`` writes (``torch-onnx``, ``tf-litert``, ...).
:func:`find` resolves what ``effnet conformance certify --impl`` names.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from effnet import backends

ENTRY_POINT_GROUP = "effnet.conformance_adapters"
# the built-in adapters of other libraries: name -> "module:object"
LIBRARIES: dict[str, str] = {
    "torchvision": "effnet.conformance.adapters.library_torchvision:ADAPTER",
    "timm": "effnet.conformance.adapters.library_timm:ADAPTER",
    "keras-applications": "effnet.conformance.adapters.library_keras:ADAPTER",
    "keras-hub": "effnet.conformance.adapters.library_keras_hub:ADAPTER",
    "transformers": "effnet.conformance.adapters.library_transformers:ADAPTER",
    "numpy": "effnet.conformance.adapters.reference_numpy:ADAPTER",
}


class AdapterNotFound(LookupError):
    pass


def known() -> list[str]:
    """Every name --impl takes: our backends, the built-in library adapters, installed plug-ins."""
    plugins = [ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    from .exported import NAMES

    return [*backends.names(), *LIBRARIES, *NAMES, *plugins]


def find(name: str) -> Any:
    """An adapter by name (ours, a built-in library, an ``effnet.conformance_adapters`` entry point)
    or by ``module:object``. Raises AdapterNotFound naming the choices, or the install hint."""
    try:
        if ":" in name:
            return backends.load(name)
        if name in backends.names():
            return backends.provide(name, "adapter")
        if name in LIBRARIES:
            return backends.load(LIBRARIES[name])
        from . import exported

        if name.partition("+")[0] in exported.NAMES:
            return exported.adapter(name)
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                return ep.load()
    except (ImportError, AttributeError) as err:
        raise AdapterNotFound(f"--impl {name}: cannot load its adapter ({err})") from None
    raise AdapterNotFound(
        f"--impl {name}: unknown implementation; known: {', '.join(known())} (or module:object)"
    )
