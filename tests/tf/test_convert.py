"""Keras converters: the model's variable paths are its .weights.h5 paths, bit-exact round trips with
complete key sets (keras-applications .h5 and .weights.h5), the released V1 files' normalization
quirk, bad input refused clearly, atomic writes, and `effnet convert` end to end."""

import logging

import h5py
import keras
import numpy as np
import pytest

from effnet import impl_tf, spec
from effnet.cli.main import main
from effnet.spec import reference
from effnet.weights_convert import WeightsError, convert, keras_applications, keras_io
from effnet.weights_convert.formats import FORMATS, from_canonical, to_canonical

from .helpers import FP32_EVAL, keras_app, max_rel, ours, pixels, preprocess, randomised_keras, run


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("name", ["efficientnetv2-b0", "efficientnet-b0"])
def test_keras_format_is_what_save_weights_writes(tmp_path, name):
    ms = spec.resolve(name, num_classes=10)
    weights = reference.random_weights(ms, 1)
    model = ours(ms, weights)
    model.save_weights(tmp_path / "ours.weights.h5")
    saved = _datasets(tmp_path / "ours.weights.h5")
    expected = from_canonical(weights, ms, FORMATS["keras"])
    assert set(saved) == set(expected)  # every variable, nothing else (no rate variables)
    assert all(np.array_equal(saved[k], expected[k]) for k in expected)
    assert convert.detect_format(tmp_path / "ours.weights.h5") == "keras"
    # our writer's file loads with Keras' own loader
    convert.save(tmp_path / "conv.weights.h5", weights, ms, "keras")
    again = impl_tf.from_spec(ms)
    again.load_weights(tmp_path / "conv.weights.h5")
    back = impl_tf.canonical_state(again)
    assert all(np.array_equal(back[k], weights[k]) for k in weights)


def test_trained_models_files_are_read_without_optimizer_state(tmp_path):
    model = impl_tf.build("efficientnetv2-b0", num_classes=4, include_preprocessing=True)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.train_on_batch(pixels((4, 32, 32, 3)), np.arange(4))
    model.save_weights(tmp_path / "trained.weights.h5")
    assert any(k.startswith("optimizer/") for k in _datasets(tmp_path / "trained.weights.h5"))
    again = impl_tf.build(
        "efficientnetv2-b0",
        num_classes=4,
        include_preprocessing=True,
        weights=tmp_path / "trained.weights.h5",
    )
    x = pixels((2, 40, 40, 3))
    assert np.array_equal(run(again, x), run(model, x))


@pytest.mark.parametrize("name", ["efficientnet-b0", "efficientnetv2-b0"])
def test_keras_applications_round_trips_are_bit_exact(tmp_path, name):
    ms = spec.resolve(name, profile="keras")
    weights, theirs = randomised_keras(ms, (64, 64))
    theirs.save_weights(tmp_path / "theirs.weights.h5")  # Keras 3 layout, written by Keras
    fmt = FORMATS["keras-applications"]
    original = keras_io.read_state(tmp_path / "theirs.weights.h5")
    canonical = to_canonical(original, ms, fmt, what="keras file")
    assert all(np.array_equal(canonical[k], weights[k]) for k in weights)
    back = from_canonical(canonical, ms, fmt)
    assert set(back) == set(original)  # complete key sets (V1's normalization included)
    for key, value in original.items():
        assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key
    # our writer: the Keras 3 layout (paths included) and the legacy layout both load into keras
    for suffix in (".weights.h5", ".h5"):
        path = tmp_path / f"ours{suffix}"
        convert.save(path, canonical, ms, "keras-applications")
        assert keras_io.read_state(path).keys() == original.keys()
        other = keras_app(ms, (64, 64))
        other.load_weights(path)
        for a, b in zip(other.weights, theirs.weights, strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b)), (suffix, a.path)
        x = pixels((1, 64, 64, 3))  # same weights; TF's CPU kernels may round differently per instance
        assert max_rel(run(other, x), run(theirs, x)) <= FP32_EVAL, suffix
    assert set(_datasets(tmp_path / "ours.weights.h5")) == set(_datasets(tmp_path / "theirs.weights.h5"))


def test_keras3_full_model_h5_is_read(tmp_path):
    ms = spec.resolve("efficientnet-b0", profile="keras")
    weights, theirs = randomised_keras(ms, (64, 64))
    theirs.save(tmp_path / "full.h5")  # legacy full-model file: depthwise kernels named "kernel"
    loaded = convert.load(tmp_path / "full.h5", "efficientnet-b0")
    assert loaded.format == "keras-applications" and loaded.spec.profile == "keras"
    assert all(np.array_equal(loaded.weights[k], weights[k]) for k in weights)


def _released_v1_file(tmp_path, quirk=True):
    """A file shaped like the released efficientnetb0.h5: legacy layout, normalization variance =
    the ImageNet std (quirk) or the variance, and a second-model auto name ``normalization_1``."""
    ms = spec.resolve("efficientnet-b0", profile="keras")
    weights = reference.random_weights(ms, 2)
    state = from_canonical(weights, ms, FORMATS["keras-applications"])
    mean, var = state["normalization/mean"], state["normalization/variance"]
    variance = np.sqrt(var) if quirk else var
    released = {
        "normalization_1/mean": mean,
        "normalization_1/variance": variance,
        "normalization_1/count": state["normalization/count"],
    }
    released |= {k: v for k, v in state.items() if not k.startswith("normalization/")}
    path = tmp_path / "efficientnetb0.h5"
    keras_io.write_state(path, released)
    return ms, weights, path, mean, variance


def test_released_v1_std_as_variance_is_detected(tmp_path, caplog):
    ms, weights, path, mean, std = _released_v1_file(tmp_path)
    with caplog.at_level(logging.WARNING, logger=keras_applications.__name__):
        model = impl_tf.build("efficientnet-b0", weights=path, include_preprocessing=True)
    assert "stores the standard deviation as its variance" in caplog.text
    # the spec's preprocessing is what keras.applications(weights="imagenet") computes: its extra
    # Rescaling(1/sqrt(std)) after Normalization(mean, variance=std)
    x = pixels((2, 64, 64, 3))
    scaled = ((x / 255.0 - mean) / np.sqrt(std)) / np.sqrt(std)
    expected = run(ours(ms, weights), scaled.astype(np.float32))
    assert max_rel(run(model, x), expected) <= FP32_EVAL
    # written back, the variance is the true one (std^2)
    convert.convert_file(path, tmp_path / "fixed.weights.h5", "efficientnet-b0", to_fmt="keras-applications")
    fixed = keras_io.read_state(tmp_path / "fixed.weights.h5")
    assert np.allclose(fixed["normalization/variance"], std**2, rtol=1e-6)


def test_foreign_normalization_is_refused_with_the_override(tmp_path):
    ms = spec.resolve("efficientnet-b0", profile="keras")
    net = keras_app(ms, (64, 64))  # weights=None: the normalization never adapted (mean 0, variance 1)
    net.save_weights(tmp_path / "untrained.weights.h5")
    with pytest.raises(WeightsError, match=r"normalization layer computes \(x/255 - \[0.0, 0.0, 0.0\]\)"):
        convert.load(tmp_path / "untrained.weights.h5", "efficientnet-b0")
    override = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "cite": "the file's normalization"}
    model = impl_tf.build(
        "efficientnet-b0",
        weights=tmp_path / "untrained.weights.h5",
        include_preprocessing=True,
        preprocessing=override,
    )
    x = pixels((1, 64, 64, 3))
    assert max_rel(run(model, x), run(net, x)) <= FP32_EVAL


def test_mismatched_checkpoint_lists_every_problem(tmp_path):
    ms = spec.resolve("efficientnetv2-b0", profile="keras")
    state = from_canonical(reference.random_weights(ms, 0), ms, FORMATS["keras-applications"])
    del state["stem_bn/moving_mean"], state["predictions/bias"]
    state["top_conv/kernel"] = np.zeros((1, 1, 3, 3), np.float32)
    state["extra_layer/kernel"] = np.zeros((1, 1, 1, 1), np.float32)
    path = tmp_path / "bad.h5"
    keras_io.write_state(path, state)
    with pytest.raises(WeightsError) as info:
        impl_tf.build("efficientnetv2-b0", weights=path)
    message = str(info.value)
    assert "2 missing: stem_bn/moving_mean, predictions/bias" in message
    assert "1 unexpected: extra_layer/kernel" in message
    assert "1 misshaped: top_conv/kernel (1, 1, 3, 3) (expected (1, 1, 192, 1280))" in message


def test_wrong_model_suggests_the_right_one(tmp_path):
    ms = spec.resolve("efficientnetv2-b0", profile="keras")
    convert.save(tmp_path / "b0.weights.h5", reference.random_weights(ms, 0), ms, "keras-applications")
    with pytest.raises(WeightsError, match="fits efficientnetv2-b0; pass that model"):
        convert.load(tmp_path / "b0.weights.h5", "efficientnetv2-b1")


def test_bad_files_and_formats(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF not really")
    with pytest.raises(WeightsError, match="not a readable HDF5 file"):
        convert.load(junk, "efficientnet-b0", fmt="keras-applications")
    with pytest.raises(WeightsError, match="unknown weights format 'keras2'"):
        convert.load(junk, "efficientnet-b0", fmt="keras2")
    with pytest.raises(FileNotFoundError):
        convert.load(tmp_path / "missing.h5", "efficientnet-b0", fmt="keras")
    ms = spec.resolve("efficientnetv2-b0")
    with pytest.raises(WeightsError, match=r"must be named \*\.weights\.h5"):
        convert.save(tmp_path / "ours.h5", reference.random_weights(ms, 0), ms, "keras")
    assert not (tmp_path / "ours.h5").exists()


def test_failed_conversion_leaves_nothing(tmp_path, capsys):
    ms = spec.resolve("efficientnetv2-b0", profile="keras")
    state = from_canonical(reference.random_weights(ms, 0), ms, FORMATS["keras-applications"])
    del state["stem_conv/kernel"]
    src = tmp_path / "bad.h5"
    keras_io.write_state(src, state)
    dst = tmp_path / "out" / "b0.weights.h5"
    code = main(["convert", str(src), str(dst), "--model", "efficientnetv2-b0", "--to", "keras"])
    err = capsys.readouterr().err
    assert code == 2 and "1 missing: stem_conv/kernel" in err and "Traceback" not in err
    assert not dst.exists() and [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["bad.h5"]


def test_a_write_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    ms = spec.resolve("efficientnetv2-b0")
    weights = reference.random_weights(ms, 0)

    def broken(f, state):
        f.create_dataset("half/written", data=np.zeros(3))
        raise OSError("disk full")

    monkeypatch.setattr(keras_io, "_write_paths", broken)
    with pytest.raises(OSError, match="disk full"):
        convert.save(tmp_path / "x.weights.h5", weights, ms, "keras")
    assert list(tmp_path.iterdir()) == []


def test_cli_convert_with_check(tmp_path, capsys):
    ms = spec.resolve("efficientnetv2-b0", profile="keras")
    _, theirs = randomised_keras(ms, (64, 64), include_preprocessing=False)
    src = tmp_path / "v2b0.weights.h5"
    theirs.save_weights(src)
    dst = tmp_path / "v2b0.keras-impl.weights.h5"
    code = main(["convert", str(src), str(dst), "--model", "efficientnetv2-b0", "--to", "keras", "--check"])
    out = capsys.readouterr().out
    assert (
        code == 0 and "(keras-applications)" in out and "profile keras" in out and "max |src - dst| =" in out
    )
    relative = float(out.rsplit("relative", 1)[1].split()[0])
    assert relative <= FP32_EVAL
    back = tmp_path / "back.h5"
    assert (
        main(
            [
                "convert",
                str(dst),
                str(back),
                "--model",
                "efficientnetv2-b0",
                "--to",
                "keras-applications",
                "--check",
            ]
        )
        == 0
    )
    assert float(capsys.readouterr().out.rsplit("relative", 1)[1].split()[0]) <= FP32_EVAL


def test_v1_check_runner_uses_pixels(tmp_path, capsys):
    ms = spec.resolve("efficientnet-b0", profile="keras")
    convert.save(tmp_path / "b0.h5", reference.random_weights(ms, 0), ms, "keras-applications")
    code = main(
        [
            "convert",
            str(tmp_path / "b0.h5"),
            str(tmp_path / "b0.weights.h5"),
            "--model",
            "efficientnet-b0",
            "--to",
            "keras",
            "--check",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and float(out.rsplit("relative", 1)[1].split()[0]) <= FP32_EVAL


def test_preprocessing_inside_equals_outside():
    ms = spec.resolve("efficientnet-b0", profile="keras")
    weights = reference.random_weights(ms, 0)
    x = pixels((2, 40, 36, 3))
    inside, outside = ours(ms, weights, include_preprocessing=True), ours(ms, weights)
    assert max_rel(run(inside, x), run(outside, preprocess(ms, x))) <= FP32_EVAL
    assert isinstance(inside, keras.Model)
