"""Eval-mode equivalence with keras.applications (random weights, randomised BN statistics), with
the preprocessing in the model and outside it, at odd and non-square sizes; keras.applications
files loaded by the torch and JAX backends; torchvision/timm weights in the Keras model."""

import numpy as np
import pytest

from effnet import impl_tf, spec
from effnet.conformance import backends
from effnet.spec import reference
from effnet.weights_convert import convert

from .helpers import (
    CI_KERAS,
    FP32_EVAL,
    is_v1,
    keras_names,
    ours,
    pixels,
    preprocess,
    randomised_keras,
    run,
)

SIZES_WITH_PREPROCESSING = [(64, 64), (71, 53)]  # even (TF SAME pads bottom/right) and odd, non-square
SIZES_WITHOUT = [(97, 97)]  # odd


def _errors(name, sizes, include_preprocessing):
    """Max relative logit error per size: our model (from their weights) against keras.applications."""
    ms = spec.resolve(name, profile="keras")
    errors = []
    model = None
    for h, w in sizes:
        weights, theirs = randomised_keras(ms, (h, w), include_preprocessing=include_preprocessing)
        if model is None:
            model = ours(ms, weights, include_preprocessing=include_preprocessing)
        x = pixels((2, h, w, 3))
        if include_preprocessing:
            got, expected = run(model, x), run(theirs, x)
        elif is_v1(ms):  # keras V1 always preprocesses in-model: ours gets the preprocessed pixels
            got, expected = run(model, preprocess(ms, x)), run(theirs, x)
        else:
            z = np.random.default_rng(2).standard_normal((2, h, w, 3)).astype(np.float32)
            got, expected = run(model, z), run(theirs, z)
        errors.append(float(np.abs(got - expected).max() / np.abs(expected).max()))
    return max(errors)


@pytest.mark.parametrize("name", CI_KERAS)
@pytest.mark.parametrize("include_preprocessing", [True, False], ids=["preprocessing", "no-preprocessing"])
def test_matches_keras_applications(name, include_preprocessing):
    sizes = SIZES_WITH_PREPROCESSING if include_preprocessing else SIZES_WITHOUT
    assert _errors(name, sizes, include_preprocessing) <= FP32_EVAL


@pytest.mark.slow
@pytest.mark.parametrize("name", keras_names())
@pytest.mark.parametrize("include_preprocessing", [True, False], ids=["preprocessing", "no-preprocessing"])
def test_matches_keras_applications_all_models(name, include_preprocessing, record_property):
    err = _errors(name, [(71, 53)], include_preprocessing)
    record_property("max_rel", err)
    print(
        f"\nMAXREL keras.applications {spec.implementation_name(name, 'keras')} "
        f"preprocessing={include_preprocessing} {err:.3g}"
    )
    assert err <= FP32_EVAL


def _keras_file(tmp_path, name, suffix, size=(67, 45)):
    """A keras.applications model with random weights, saved by Keras itself (``.weights.h5``) or as
    the released files are (legacy ``.h5``, written by our converter since Keras 3 cannot)."""
    ms = spec.resolve(name, profile="keras")
    weights, theirs = randomised_keras(ms, size, include_preprocessing=False)
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".weights.h5":
        theirs.save_weights(path)
    else:
        convert.save(path, weights, ms, "keras-applications")
    return ms, theirs, path


def _input_for(ms, theirs_size):
    x = pixels((2, *theirs_size, 3))
    return (preprocess(ms, x), x) if is_v1(ms) else (x / 127.5 - 1.0, x / 127.5 - 1.0)


@pytest.mark.parametrize("name, suffix", [("efficientnet-b0", ".h5"), ("efficientnetv2-b0", ".weights.h5")])
def test_torch_backend_loads_keras_applications_files(tmp_path, name, suffix):
    torch = pytest.importorskip("torch")
    impl_torch = pytest.importorskip("impl_torch")
    ms, theirs, path = _keras_file(tmp_path, name, suffix)
    model = impl_torch.build(name, weights=path, weights_format="keras-applications").eval()
    assert model.spec.profile == "keras"
    ours_x, their_x = _input_for(ms, (67, 45))
    with torch.no_grad():
        got = model(torch.from_numpy(np.ascontiguousarray(ours_x.transpose(0, 3, 1, 2)))).numpy()
    expected = run(theirs, their_x)
    assert np.abs(got - expected).max() / np.abs(expected).max() <= FP32_EVAL


@pytest.mark.parametrize("name, suffix", [("efficientnetv2-b0", ".weights.h5")])
def test_jax_backend_loads_keras_applications_files(tmp_path, name, suffix):
    pytest.importorskip(
        "flax", reason="jax/flax are not installed in the tf session; conformance sessions run this"
    )
    from effnet import impl_jax

    adapter = backends.load("jax")
    ms, theirs, path = _keras_file(tmp_path, name, suffix)
    model = impl_jax.build(name, weights=path, weights_format="keras-applications")
    ours_x, their_x = _input_for(ms, (67, 45))
    got = adapter.forward(model, ours_x)["logits"]
    expected = run(theirs, their_x)
    assert np.abs(got - expected).max() / np.abs(expected).max() <= FP32_EVAL


@pytest.mark.parametrize(
    "name, library, foreign_name, profile",
    [
        ("efficientnet-b0", "torchvision", "efficientnet_b0", "torchvision"),
        ("efficientnetv2-b0", "timm", "tf_efficientnetv2_b0", "timm_tf"),
    ],
)
def test_torchvision_and_timm_weights_in_the_keras_model(tmp_path, name, library, foreign_name, profile):
    torch = pytest.importorskip("torch")
    if library == "torchvision":
        torchvision = pytest.importorskip("torchvision")
        net = torchvision.models.get_model(foreign_name, weights=None)
    else:
        timm = pytest.importorskip("timm")
        net = timm.create_model(foreign_name, pretrained=False)
    ms = spec.resolve(name, profile=profile)
    from effnet.weights_convert.formats import FORMATS, from_canonical

    state = from_canonical(reference.random_weights(ms, 3), ms, FORMATS[library])
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    path = tmp_path / f"{foreign_name}.pth"
    torch.save(net.state_dict(), path)
    # the format is detected from the file; the library's model name picks the profile (a timm file
    # cannot say whether it holds a TF-ported or a PyTorch-native model)
    model = impl_tf.build(foreign_name, weights=path)
    assert model.spec.profile == profile
    x = np.random.default_rng(0).standard_normal((2, 61, 47, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    got = run(model, x)
    assert np.abs(got - expected).max() / np.abs(expected).max() <= FP32_EVAL
