"""The NNX model: numpy reference, jit (nnx.jit and split/merge + jax.jit), eval/train, bf16,
regularisation setters, the two depthwise formulations, feature extraction, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from effnet import impl_jax, spec
from effnet.conformance.tolerances import tolerance
from effnet.spec import reference

FP32 = tolerance("float32", "eval")


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def b0():
    ms = spec.resolve("efficientnetv2-b0", num_classes=10)
    weights = reference.random_weights(ms, 2)
    model = impl_jax.from_spec(ms)
    impl_jax.load_canonical_state(model, weights)
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 45, 38, 3)).astype(np.float32)
    return ms, weights, model, x


@pytest.mark.parametrize("profile", [None, "torchvision"])
def test_every_intermediate_matches_the_numpy_reference(profile):
    ms = spec.resolve("efficientnet-b0", profile=profile, num_classes=10)
    weights = reference.random_weights(ms, 3)
    model = impl_jax.from_spec(ms)
    impl_jax.load_canonical_state(model, weights)
    model.eval()
    x = np.random.default_rng(1).standard_normal((2, 45, 38, 3)).astype(np.float32)
    expected = reference.forward(ms, weights, x).intermediates
    got = nnx.jit(lambda m, v: m.forward_intermediates(v))(model, jnp.asarray(x))
    assert set(got) == set(expected)  # (jit returns dicts with sorted keys)
    for key, value in expected.items():
        assert rel(got[key], value) <= FP32, key


def test_jit_split_merge_and_depthwise_modes(b0):
    ms, weights, model, x = b0
    expected = reference.forward(ms, weights, x).logits
    graphdef, state = nnx.split(model)

    @jax.jit
    def pure(state, x):
        return nnx.merge(graphdef, state)(x)

    assert rel(pure(state, jnp.asarray(x)), expected) <= FP32
    for mode in ("xla", "shifted", "auto"):  # both formulations of the depthwise conv are conformant
        model.set_depthwise_mode(mode)
        assert rel(nnx.jit(lambda m, v: m(v))(model, jnp.asarray(x)), expected) <= FP32, mode
    with pytest.raises(ValueError, match="unknown depthwise mode"):
        model.set_depthwise_mode("fast")


def test_bf16_compute_keeps_float32_parameters(b0):
    ms, weights, _, x = b0
    model = impl_jax.from_spec(ms, dtype=jnp.bfloat16)
    impl_jax.load_canonical_state(model, weights)
    model.eval()
    out = nnx.jit(lambda m, v: m(v))(model, jnp.asarray(x))
    assert out.dtype == jnp.bfloat16
    assert {np.asarray(v).dtype for v in impl_jax.canonical_state(model).values()} == {np.dtype(np.float32)}
    assert rel(out.astype(jnp.float32), reference.forward(ms, weights, x).logits) <= tolerance(
        "bfloat16", "eval"
    )


def test_train_mode_updates_batch_stats_and_eval_does_not(b0):
    ms, weights, _, x = b0
    model = impl_jax.from_spec(ms)
    impl_jax.load_canonical_state(model, weights)
    model.eval()
    model(jnp.asarray(x))
    assert np.array_equal(impl_jax.canonical_state(model)["stem.bn.mean"], weights["stem.bn.mean"])
    model.train()
    model.set_regularization(dropout=0.0, drop_path_rate=0.0)
    model(jnp.asarray(x))
    assert not np.array_equal(impl_jax.canonical_state(model)["stem.bn.mean"], weights["stem.bn.mean"])


def test_regularisation_changes_without_rebuild(b0):
    ms = b0[0]
    model = impl_jax.from_spec(ms)
    model.set_regularization(dropout=0.5, drop_path_rate=0.4)
    assert model.dropout.rate == 0.5
    assert [b.drop_path.rate for b in model.blocks] == pytest.approx(list(ms.drop_path_rates(0.4)))
    model.train()
    x = jnp.ones((4, 32, 32, 3))
    a, b = model(x), model(x)
    assert not np.allclose(a, b), "dropout and drop-path draw new masks each call"


def test_feature_extractor_and_bad_input(b0):
    features = impl_jax.build("efficientnetv2-b0", include_top=False, pooling="avg")
    features.eval()
    assert features.classifier is None
    assert features(jnp.ones((2, 64, 48, 3))).shape == (2, 1280)
    assert "classifier.kernel" not in impl_jax.canonical_state(features)
    with pytest.raises(
        ValueError, match="expected an NHWC batch with 3 channels, got shape \\(2, 3, 64, 64\\)"
    ):
        features(jnp.ones((2, 3, 64, 64)))
