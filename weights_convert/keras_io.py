"""Keras HDF5 weight files as flat ``{name: np.ndarray}`` states (h5py; Keras itself is not imported).

Three layouts are read, two naming schemes come out:

- legacy ``.h5`` (root attribute ``layer_names``, or under ``model_weights``), as Keras 2
  ``save_weights`` / ``save`` wrote the released keras.applications files: ``{layer}/{variable}``
  from ``weight_names`` (``stem_conv/kernel:0`` -> ``stem_conv/kernel``);
- Keras 3 ``.weights.h5`` of a Functional/Sequential model (``layers/{class}[_n]/vars/{i}``), as
  ``keras.applications.*`` ``save_weights`` writes it: ``{layer}/{variable}``, the layer name from the
  ``vars`` group's ``name`` attribute, the variable name from the layer class (``KERAS_VARIABLES``);
- any other Keras 3 ``.weights.h5`` (a subclassed model, e.g. impl_tf's): the dataset path itself,
  ``head/conv/vars/0``; a compiled model's ``optimizer/`` state is skipped.

Keras 3 stores a layer's variables by index, in creation order (``keras/src/layers/layer.py``
``save_own_variables``); a Functional model's layers are stored under ``layers/`` by class name in
snake case with a per-class counter (``keras/src/saving/saving_lib.py``). Layers Keras named itself
(keras.applications V1's ``normalization``, ``normalization_1`` in a process's second model) are
renumbered per file, so their names do not depend on the writing process. Variable names follow
Keras 2 / TF (``depthwise_kernel``, as in the released files and TF checkpoints, SOURCES §6.4, §6.5).

Writing inverts this: ``{layer}/{variable}`` states become a Keras 3 Functional ``.weights.h5`` (the
class inferred from the variable names, counters in the state's order, which must be the model's
layer order) or, for any other suffix, a legacy Keras 2 ``.h5`` (layers in the state's order, the
Normalization first, as the order-based legacy loader expects); path states are written verbatim
and must go to a ``.weights.h5``. Writes are atomic. Keras 3's legacy ``.h5`` writers (``model.save``,
``legacy_h5_format.save_weights_to_hdf5_group``) name depthwise kernels ``kernel`` and drop the ``:0``
suffixes: a full-model file's ``model_config`` tells which layers are depthwise; a weights-only file
has no config, so a ``kernel`` of a layer named ``*dwconv``/``*dwconv2`` (keras.applications' names)
shaped ``(kh, kw, C, 1)`` is read as ``depthwise_kernel``. Every tensor read is vetted by
``tensors.check_numbers``.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .atomic import check_target, write_bytes
from .errors import WeightsError
from .tensors import check_numbers

State = dict[str, np.ndarray]

# Keras layer class (snake case, as saving_lib names it) -> its variables in creation order
KERAS_VARIABLES: dict[str, tuple[str, ...]] = {
    "conv2d": ("kernel", "bias"),
    "depthwise_conv2d": ("depthwise_kernel", "bias"),
    "batch_normalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "dense": ("kernel", "bias"),
    "normalization": ("mean", "variance", "count"),
}
KERAS3_SUFFIX = ".weights.h5"
# a compiled model's save_weights also stores the optimizer's state: not model weights (Keras' own
# loader skips it for a model without that optimizer), so it is not read
TRAINING_STATE = "optimizer/"
_FUNCTIONAL_LAYER = re.compile(r"^layers/([a-z0-9_]+?)(?:_\d+)?$")
_AUTO_NAME = re.compile(r"^([a-z0-9_]+?)(?:_\d+)?$")
# keras.applications' depthwise layers: "block2a_dwconv" (V1), "block4a_dwconv2" (V2)
_DEPTHWISE_NAME = re.compile(r"dwconv2?$")
# bytes per attribute (Keras 2 HDF5_OBJECT_HEADER_LIMIT): longer name lists are chunked
HDF5_ATTRIBUTE_LIMIT = 64512
# the Keras 2 layout; a missing version means Keras 1, whose loaders convert kernels
LEGACY_KERAS_VERSION = "2"


def _h5py():  # noqa: ANN202
    try:
        import h5py
    except ImportError as err:
        raise ImportError("reading or writing Keras .h5 weights needs h5py (pip install h5py)") from err
    return h5py


def read_state(path: str | os.PathLike[str]) -> State:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise WeightsError(f"{path}: not a readable HDF5 file ({err})") from err
    with f:
        root = f["model_weights"] if "model_weights" in f and not _attr_list(f, "layer_names") else f
        if _attr_list(root, "layer_names"):
            state = _read_legacy(root, _depthwise_layers(f))
        else:
            state = _read_keras3(f, h5py)
    return check_numbers(state, path)


def _attr_list(group: object, name: str) -> list[str]:
    """A string-list attribute, possibly chunked as ``name0``, ``name1``, ... (Keras 2)."""
    attrs = group.attrs  # type: ignore[attr-defined]
    if name in attrs:
        values = list(attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in attrs:
            values.extend(attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _auto_named_class(layer: str) -> str | None:
    """The class of a layer Keras named itself (``normalization``, ``normalization_3``), else None.
    Such names carry a process-wide counter, so they are renumbered per file (model order)."""
    match = _AUTO_NAME.match(layer)
    return match.group(1) if match and match.group(1) in KERAS_VARIABLES else None


def _depthwise_layers(f: object) -> set[str] | None:
    """DepthwiseConv2D layers of a Keras 3 full-model ``.h5`` (whose weight names call their kernel
    ``kernel``, where Keras 2 said ``depthwise_kernel``), from the file's ``model_config``; None
    when the file has no config (a weights-only file: see ``_is_depthwise``)."""
    config = f.attrs.get("model_config")  # type: ignore[attr-defined]
    if config is None:
        return None
    try:
        layers = json.loads(config)["config"]["layers"]
        return {layer["config"]["name"] for layer in layers if layer["class_name"] == "DepthwiseConv2D"}
    except (ValueError, KeyError, TypeError):
        return None


def _is_depthwise(layer: str, kernel: object, depthwise: set[str] | None) -> bool:
    """Whether a legacy file's ``{layer}/kernel`` is a depthwise kernel (Keras 3 writers)."""
    if depthwise is not None:
        return layer in depthwise
    shape = getattr(kernel, "shape", ())
    return bool(_DEPTHWISE_NAME.search(layer)) and len(shape) == 4 and shape[3] == 1


def _read_legacy(root: object, depthwise: set[str] | None) -> State:
    out: State = {}
    counters: dict[str, int] = {}
    for layer in _attr_list(root, "layer_names"):
        group = root[layer]  # type: ignore[index]
        weights = _attr_list(group, "weight_names")
        name, cls = layer, _auto_named_class(layer)
        if cls is not None and weights:
            n = counters[cls] = counters.get(cls, -1) + 1
            name = f"{cls}_{n}" if n else cls
        for weight in weights:
            leaf = weight.rsplit("/", 1)[-1].split(":", 1)[0]
            value = group[weight]
            if leaf == "kernel" and _is_depthwise(layer, value, depthwise):
                leaf = "depthwise_kernel"
            out[f"{name}/{leaf}"] = np.asarray(value)
    return out


def _read_keras3(f: object, h5py: object) -> State:
    datasets: list[tuple[str, np.ndarray]] = []

    def collect(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):  # type: ignore[attr-defined]
            datasets.append((name, np.asarray(obj)))

    f.visititems(collect)  # type: ignore[attr-defined]
    out: State = {}
    for name, value in datasets:
        if name.startswith(TRAINING_STATE):
            continue
        layer_path, _, index = name.rpartition("/vars/")
        match = _FUNCTIONAL_LAYER.match(layer_path)
        if not index.isdigit() or match is None or match.group(1) not in KERAS_VARIABLES:
            out[name] = value
            continue
        variables = KERAS_VARIABLES[match.group(1)]
        layer = f[f"{layer_path}/vars"].attrs.get("name")  # type: ignore[index]
        if layer is None or int(index) >= len(variables):
            out[name] = value
            continue
        layer = layer.decode("utf8") if isinstance(layer, bytes) else str(layer)
        if _auto_named_class(layer) == match.group(1):  # an auto name: the path numbers it per model
            layer = layer_path.removeprefix("layers/")
        out[f"{layer}/{variables[int(index)]}"] = value
    return out


def write_state(path: str | os.PathLike[str], state: State) -> None:
    path = Path(path)
    h5py = _h5py()
    keras3 = path.name.endswith(KERAS3_SUFFIX)
    paths = bool(state) and all("/vars/" in k for k in state)
    if paths and not keras3:
        raise WeightsError(f"{path}: Keras 3 weight files must be named *{KERAS3_SUFFIX}")
    layers = {} if paths else group_by_layer(state)
    check_target(path)
    buffer = io.BytesIO()  # built in memory, then written atomically
    with h5py.File(buffer, "w") as f:
        if paths:
            _write_paths(f, state)
        elif keras3:
            _write_functional(f, layers)
        else:
            _write_legacy(f, layers)
    write_bytes(path, buffer.getvalue())


def _write_paths(f: object, state: State) -> None:
    for name, value in state.items():
        f.create_dataset(name, data=np.asarray(value))  # type: ignore[attr-defined]


def group_by_layer(state: State) -> dict[str, dict[str, np.ndarray]]:
    """``{layer}/{variable}`` names grouped by layer (in the state's order), variables in Keras order."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    for name, value in state.items():
        layer, sep, leaf = name.rpartition("/")
        if not sep:
            raise WeightsError(f"cannot write {name!r} to a Keras file: expected '<layer>/<variable>'")
        layers.setdefault(layer, {})[leaf] = np.asarray(value)
    return {layer: _ordered(layer, leaves) for layer, leaves in layers.items()}


def layer_class(layer: str, leaves: dict[str, np.ndarray]) -> str:
    """The Keras class holding these variables (conv2d and dense differ by the kernel's rank)."""
    if "kernel" in leaves:
        return "dense" if np.ndim(leaves["kernel"]) == 2 else "conv2d"
    for cls, names in KERAS_VARIABLES.items():
        if names[0] in leaves and set(leaves) <= set(names):
            return cls
    raise WeightsError(f"cannot tell which Keras layer holds {layer}: {', '.join(sorted(leaves))}")


def _ordered(layer: str, leaves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = KERAS_VARIABLES[layer_class(layer, leaves)]
    unknown = sorted(set(leaves) - set(names))
    if unknown:
        raise WeightsError(f"{layer}: unexpected variables {', '.join(unknown)}")
    return {n: leaves[n] for n in names if n in leaves}


def _functional_groups(layers: dict[str, dict[str, np.ndarray]]) -> Iterator[tuple[str, str]]:
    """(layer, its Keras 3 path ``layers/{class}[_n]``): per-class counters in layer order."""
    counters: dict[str, int] = {}
    for layer, leaves in layers.items():
        cls = layer_class(layer, leaves)
        n = counters[cls] = counters.get(cls, -1) + 1
        yield layer, f"layers/{cls}_{n}" if n else f"layers/{cls}"


def _write_functional(f: object, layers: dict[str, dict[str, np.ndarray]]) -> None:
    for layer, group_path in _functional_groups(layers):
        group = f.create_group(f"{group_path}/vars")  # type: ignore[attr-defined]
        group.attrs["name"] = layer
        for i, value in enumerate(layers[layer].values()):
            group.create_dataset(str(i), data=value)


def _write_legacy(f: object, layers: dict[str, dict[str, np.ndarray]]) -> None:
    # the legacy loader matches layers by order: input preprocessing (Normalization) comes first in
    # every keras.applications model, before the network's layers
    layers = dict(sorted(layers.items(), key=lambda item: layer_class(*item) != "normalization"))
    _write_attr_list(f, "layer_names", list(layers))
    f.attrs["backend"] = b"tensorflow"  # type: ignore[attr-defined]
    f.attrs["keras_version"] = LEGACY_KERAS_VERSION.encode()  # type: ignore[attr-defined]
    for layer, leaves in layers.items():
        group = f.create_group(layer)  # type: ignore[attr-defined]
        names = [f"{layer}/{leaf}:0" for leaf in leaves]
        _write_attr_list(group, "weight_names", names)
        for name, value in zip(names, leaves.values(), strict=True):
            group.create_dataset(name, data=value)


def _write_attr_list(group: object, name: str, values: list[str]) -> None:
    data = np.asarray([v.encode("utf8") for v in values])
    chunks = 1
    while data.nbytes / chunks > HDF5_ATTRIBUTE_LIMIT:
        chunks += 1
    if chunks == 1:
        group.attrs[name] = data  # type: ignore[attr-defined]
        return
    for i, part in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = part  # type: ignore[attr-defined]
