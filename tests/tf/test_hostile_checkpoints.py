"""Keras .h5 files as users have them (issue 19): the released TF-2-era spelling
(``depthwise_kernel:0``) and Keras 3's own legacy writers (``model.save("m.h5")`` and
``save_weights_to_hdf5_group``: the depthwise weight named ``kernel``, no ``:0``) all read as
keras-applications weights, alike; a broken tensor in one is refused by name."""

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from effnet.cli.main import main
from effnet.weights_convert import convert, keras_io
from effnet.weights_convert.formats import FORMATS, from_canonical

MODEL = "efficientnetv2-b0"
DEPTHWISE = "block4a_dwconv2"


@pytest.fixture(scope="module")
def net():
    return keras.applications.EfficientNetV2B0(weights=None, input_shape=(32, 32, 3))


def _texts(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _tf2_spelling(src: Path, dst: Path) -> None:
    """Copy a Keras 3 weights-only legacy file with the released files' names: ``depthwise_kernel``
    for depthwise layers, ``:0`` suffixes everywhere."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for key, value in f.attrs.items():
            g.attrs[key] = value
        for layer in _texts(f.attrs["layer_names"]):
            group, names = g.create_group(layer), []
            for weight in _texts(f[layer].attrs["weight_names"]):
                leaf = weight.rsplit("/", 1)[-1]
                leaf = "depthwise_kernel" if "dwconv" in layer and leaf == "kernel" else leaf
                names.append(f"{layer}/{leaf}:0")
                group.create_dataset(names[-1], data=np.asarray(f[layer][weight]))
            group.attrs["weight_names"] = np.asarray([n.encode() for n in names])


@pytest.fixture(scope="module")
def files(tmp_path_factory, net) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("h5")
    paths = {name: folder / f"{name}.h5" for name in ("keras3-model", "keras3-weights", "tf2")}
    net.save(paths["keras3-model"])
    with h5py.File(paths["keras3-weights"], "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, net)
    _tf2_spelling(paths["keras3-weights"], paths["tf2"])
    return paths


def test_the_files_differ_as_users_see_them(files):
    def names(path):
        with h5py.File(path, "r") as f:
            root = f.get("model_weights", f)
            return _texts(root[DEPTHWISE].attrs["weight_names"])

    assert names(files["keras3-model"]) == names(files["keras3-weights"]) == [f"{DEPTHWISE}/kernel"]
    assert names(files["tf2"]) == [f"{DEPTHWISE}/depthwise_kernel:0"]


@pytest.mark.parametrize("which", ["keras3-model", "keras3-weights", "tf2"])
def test_every_spelling_loads_as_keras_applications(files, net, which):
    loaded = convert.load(files[which], MODEL)
    assert loaded.format == "keras-applications" and loaded.spec.profile == "keras"
    state = from_canonical(loaded.weights, loaded.spec, FORMATS["keras-applications"])
    layer = net.get_layer(DEPTHWISE)
    assert np.array_equal(state[f"{DEPTHWISE}/depthwise_kernel"], layer.get_weights()[0])
    assert np.array_equal(state["stem_conv/kernel"], net.get_layer("stem_conv").get_weights()[0])


def test_every_spelling_gives_the_same_weights(files):
    loaded = [convert.load(path, MODEL).weights for path in files.values()]
    for other in loaded[1:]:
        assert set(other) == set(loaded[0])
        assert all(np.array_equal(other[k], loaded[0][k]) for k in other)


def test_the_cli_converts_a_keras3_legacy_file(files, tmp_path, capsys):
    dst = tmp_path / "b0.safetensors"
    assert main(["convert", str(files["keras3-weights"]), str(dst), "--model", MODEL]) == 0
    assert "(keras-applications)" in capsys.readouterr().out and dst.is_file()


def test_a_nan_in_an_h5_is_refused_by_name(files, tmp_path, capsys):
    state = keras_io.read_state(files["tf2"])
    state["stem_conv/kernel"] = state["stem_conv/kernel"].copy()
    state["stem_conv/kernel"].flat[5] = np.nan
    src = tmp_path / "nan.h5"
    keras_io.write_state(src, state)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["convert", str(src), str(out / "b0.safetensors"), "--model", MODEL])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"effnet: error: {src}: tensor 'stem_conv/kernel'") and "NaN" in err
    assert list(out.iterdir()) == []
