"""The Keras model itself: the numpy reference, intermediates, feature extraction, regularisation
setters (also inside traced functions), tf.function with and without XLA, .keras and SavedModel,
mixed bfloat16, one SGD step against keras.applications, bad input, the backend guard."""

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from effnet import impl_tf, spec
from effnet.conformance.references import assign_keras_applications
from effnet.conformance.tolerances import tolerance
from effnet.spec import reference
from effnet.weights_convert import keras_io
from effnet.weights_convert.formats import FORMATS, to_canonical

from .helpers import FP32_EVAL, keras_app, max_rel, ours, run


def _x(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name, profile", [("efficientnetv2-b0", None), ("efficientnet-b0", "torchvision")])
def test_every_intermediate_matches_the_numpy_reference(name, profile):
    ms = spec.resolve(name, profile=profile)  # TF SAME, then symmetric padding
    weights = reference.random_weights(ms, seed=3)
    x = np.random.default_rng(1).standard_normal((2, 45, 39, 3))
    expected = reference.forward(ms, weights, x).intermediates
    got = ours(ms, weights).forward_intermediates(x.astype(np.float32))
    assert list(got) == list(expected)
    for key, value in got.items():
        assert max_rel(np.asarray(value), expected[key]) <= FP32_EVAL, key


def test_parameter_counts_are_the_spec_counts():
    ms = spec.resolve("efficientnetv2-s")
    model = impl_tf.from_spec(ms)
    counts = spec.count(ms)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert (trainable, model.count_params()) == (counts.params, counts.params + counts.bn_stats)


def test_feature_extractor_and_pooling():
    x = _x((2, 64, 48, 3))
    features = impl_tf.build("efficientnetv2-b0", include_top=False)
    assert features.classifier is None and run(features, x).shape == (2, 2, 2, 1280)
    pooled = impl_tf.build("efficientnetv2-b0", include_top=False, pooling="avg")
    impl_tf.load_canonical_state(pooled, impl_tf.canonical_state(features))
    assert np.allclose(run(pooled, x), run(features, x).mean(axis=(1, 2)), rtol=FP32_EVAL, atol=0)
    assert "classifier.kernel" not in impl_tf.canonical_state(features)


def test_regularisation_changes_without_rebuild_or_retrace(tiny):
    model = impl_tf.from_spec(tiny)
    assert [float(b.drop_path.rate.numpy()) for b in model.blocks] == pytest.approx(tiny.drop_path_rates())
    model.set_regularization(dropout=0.5, drop_path_rate=0.4)
    assert float(model.dropout.rate.numpy()) == 0.5
    assert [float(b.drop_path.rate.numpy()) for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    x = _x((8, 32, 32, 3))
    step = tf.function(lambda t: model(t, training=True))
    noisy = [np.asarray(step(x)) for _ in range(2)]
    assert not np.array_equal(*noisy), "dropout and drop-path are active"
    model.set_regularization(dropout=0.0, drop_path_rate=0.0)  # read by the traced function
    assert np.array_equal(np.asarray(step(x)), np.asarray(step(x))), "both rates 0: deterministic"
    assert step.experimental_get_tracing_count() == 1


def test_drop_path_is_per_sample_and_independent_per_block():
    ones = np.ones((256, 2, 2, 3), np.float32)
    a, b = impl_tf.DropPath(0.5), impl_tf.DropPath(0.5)
    ma, mb = (np.asarray(layer(ones, training=True)) for layer in (a, b))
    assert set(np.unique(ma)) == {0.0, 2.0}, "dropped or scaled by 1 / (1 - rate)"
    assert (ma == ma[:, :1, :1, :1]).all(), "one decision per sample"
    assert not np.array_equal(ma, mb), "each block draws its own mask"
    assert np.array_equal(np.asarray(a(ones, training=False)), ones)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_tf_function_with_and_without_xla(tiny, jit_compile):
    model = impl_tf.from_spec(tiny)
    weights = reference.random_weights(tiny, 2)
    impl_tf.load_canonical_state(model, weights)
    x = _x((2, 33, 31, 3))
    compiled = tf.function(lambda t: model(t, training=False), jit_compile=jit_compile)
    assert max_rel(np.asarray(compiled(x)), reference.forward(tiny, weights, x).logits) <= FP32_EVAL


def test_keras_file_and_saved_model(tiny, tmp_path):
    model = impl_tf.from_spec(tiny, include_preprocessing=True)
    impl_tf.load_canonical_state(model, reference.random_weights(tiny, 4))
    model.set_regularization(dropout=0.3, drop_path_rate=0.1)
    x = np.random.default_rng(0).uniform(0, 255, (2, 35, 29, 3)).astype(np.float32)
    expected = run(model, x)
    model.save(tmp_path / "tiny.keras")
    loaded = keras.models.load_model(tmp_path / "tiny.keras")
    assert isinstance(loaded, impl_tf.EfficientNet) and loaded.spec == tiny
    assert float(loaded.dropout.rate.numpy()) == pytest.approx(0.3)
    assert np.array_equal(run(loaded, x), expected)
    model.export(tmp_path / "saved", verbose=False)  # SavedModel, any input size
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    assert max_rel(np.asarray(restored.serve(tf.constant(x))), expected) <= FP32_EVAL


def test_mixed_bfloat16(tiny):
    weights = reference.random_weights(tiny, 5)
    x = _x((2, 32, 32, 3))
    expected = reference.forward(tiny, weights, x).logits
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = impl_tf.from_spec(tiny)
        impl_tf.load_canonical_state(model, weights)
        assert model.stem.conv.compute_dtype == "bfloat16" and model.stem.conv.kernel.dtype == "float32"
        got = model(x, training=False)
        train = model(x, training=True)
    finally:
        keras.config.set_dtype_policy(previous)
    assert got.dtype == tf.float32 and train.dtype == tf.float32
    assert max_rel(np.asarray(got), expected) <= tolerance("bfloat16", "eval")


def test_one_sgd_step_matches_keras_applications(tmp_path):
    """Train-mode forward, backward and SGD: our model against EfficientNetV2B0 with dropout and
    drop-path off (keras.applications' Dropout layers read ``rate`` at call time)."""
    ms = spec.resolve("efficientnetv2-b0", profile="keras", dropout=0.0, drop_path={"rate": 0.0})
    weights = reference.random_weights(ms, 6)
    theirs = keras_app(ms, (64, 64), include_preprocessing=False)
    assign_keras_applications(theirs, ms, weights)
    for layer in theirs.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    model = ours(ms, weights)
    x, y = _x((4, 64, 64, 3)), tf.constant([1, 7, 3, 999])
    for net in (model, theirs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, net(x, training=True), from_logits=True)
            )
        for v, g in zip(net.trainable_weights, tape.gradient(loss, net.trainable_weights), strict=True):
            v.assign_sub(0.1 * g)
    theirs.save_weights(tmp_path / "after.weights.h5")
    after_theirs = to_canonical(
        keras_io.read_state(tmp_path / "after.weights.h5"), ms, FORMATS["keras-applications"]
    )
    after_ours = impl_tf.canonical_state(model)
    worst = max((max_rel(after_ours[k], after_theirs[k]), k) for k in after_ours)
    assert worst[0] <= tolerance("float32", "update"), worst
    assert max(np.abs(after_ours[k] - weights[k]).max() for k in after_ours) > 1e-3, "the step moved weights"


def test_bad_input_shape():
    model = impl_tf.build("efficientnetv2-b0")
    with pytest.raises(
        ValueError, match=r"expected an NHWC batch with 3 channels, got shape \(2, 3, 64, 64\)"
    ):
        model(np.zeros((2, 3, 64, 64), np.float32))


@pytest.mark.parametrize(
    "code, message",
    [
        (
            "import os; os.environ['KERAS_BACKEND'] = 'torch'; import impl_tf",
            "environment sets KERAS_BACKEND=torch",
        ),
        (
            "import os; os.environ['KERAS_BACKEND'] = 'torch'; import keras; import impl_tf",
            "keras was already imported with the 'torch' backend",
        ),
        (
            "import os; os.environ.pop('KERAS_BACKEND', None); "
            "import impl_tf, keras; print(keras.backend.backend())",
            "",
        ),
    ],
    ids=["env", "imported", "unset"],
)
# KERAS_BACKEND=torch for the refusals: the tf session installs torch beside TensorFlow, not jax
def test_keras_backend_is_selected_or_refused(code, message):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if message:
        assert done.returncode != 0 and message in done.stderr
    else:
        assert done.returncode == 0 and done.stdout.strip() == "tensorflow", done.stderr
