"""The torch model itself: the numpy reference, intermediates, feature extraction, regularisation
setters, channels_last, torch.compile, training-step parity with torchvision, bad input."""

import numpy as np
import pytest
import torch

from effnet import impl_torch, spec
from effnet.conformance.tolerances import tolerance
from effnet.spec import reference

from .helpers import FP32_EVAL, foreign_model, max_rel, randomised


@pytest.mark.parametrize("name, profile", [("efficientnetv2-b0", None), ("efficientnet-b0", "torchvision")])
def test_every_intermediate_matches_the_numpy_reference(name, profile):
    ms = spec.resolve(name, profile=profile)
    weights = reference.random_weights(ms, seed=3)
    x = np.random.default_rng(1).standard_normal((2, 45, 39, 3))
    expected = reference.forward(ms, weights, x).intermediates
    model = impl_torch.from_spec(ms).eval()
    impl_torch.load_canonical_state(model, weights)
    with torch.no_grad():
        got = model.forward_intermediates(torch.from_numpy(x.transpose(0, 3, 1, 2)).float())
    assert list(got) == list(expected)
    for key, value in got.items():
        value = value.numpy()
        value = value.transpose(0, 2, 3, 1) if value.ndim == 4 else value
        assert max_rel(value, expected[key]) <= FP32_EVAL, key


def test_feature_extractor_and_pooling():
    x = torch.randn(2, 3, 64, 48)
    features = impl_torch.build("efficientnetv2-b0", include_top=False).eval()
    assert features.classifier is None and features(x).shape == (2, 1280, 2, 2)
    pooled = impl_torch.build("efficientnetv2-b0", include_top=False, pooling="avg").eval()
    pooled.load_state_dict(features.state_dict())
    with torch.no_grad():
        assert torch.allclose(pooled(x), features(x).mean(dim=(2, 3)))
    assert "classifier.kernel" not in impl_torch.canonical_state(features)


def test_regularisation_changes_without_rebuild(tiny):
    model = impl_torch.from_spec(tiny)
    assert [b.drop_path.rate for b in model.blocks] == list(tiny.drop_path_rates())
    model.set_regularization(dropout=0.5, drop_path_rate=0.4)
    assert model.dropout.p == 0.5
    assert [b.drop_path.rate for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    model.train()
    x = torch.randn(4, 3, 32, 32)
    model.set_regularization(dropout=0.0, drop_path_rate=0.0)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert torch.equal(a, model(x)), "with both rates at 0, train-mode forward is deterministic"


def test_channels_last_and_compile(tiny):
    model = impl_torch.from_spec(tiny).eval()
    x = torch.randn(2, 3, 33, 31)
    with torch.no_grad():
        expected = model(x)
        cl = model.to(memory_format=torch.channels_last)
        assert max_rel(cl(x.to(memory_format=torch.channels_last)), expected) <= FP32_EVAL
        compiled = torch.compile(model, dynamic=False)
        assert max_rel(compiled(x), expected) <= FP32_EVAL


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_inference_in_place_ops_change_nothing(tiny, memory_format):
    """Without autograd the activations and residual sums are computed in place: the logits and
    every intermediate (none overwritten later) equal the autograd forward's bit for bit, and the
    input is left as it was."""
    model = impl_torch.from_spec(tiny).eval().to(memory_format=memory_format)
    x = torch.randn(2, 3, 33, 31).to(memory_format=memory_format)
    before = x.clone()
    expected = {k: v.detach() for k, v in model.forward_intermediates(x).items()}
    with torch.inference_mode():
        got = model.forward_intermediates(x)
        logits = model(x)
    assert list(got) == list(expected) and len(got) > 3
    for key, value in got.items():
        assert torch.equal(value, expected[key]), key
    assert torch.equal(logits, expected["logits"])
    assert torch.equal(x, before)


def test_bad_input_shape():
    model = impl_torch.build("efficientnetv2-b0").eval()
    with pytest.raises(
        ValueError, match="expected an NCHW batch with 3 channels, got shape \\(2, 64, 64, 3\\)"
    ):
        model(torch.zeros(2, 64, 64, 3))


def test_one_sgd_step_matches_torchvision():
    ms = spec.resolve("efficientnetv2-s", profile="torchvision", dropout=0.0, drop_path={"rate": 0.0})
    weights, state = randomised(ms, "torchvision", seed=5)
    theirs = foreign_model("torchvision", "efficientnet_v2_s")
    theirs.load_state_dict(state)
    for module in theirs.modules():  # dropout and stochastic depth off, as in ours
        if hasattr(module, "p") and isinstance(module.p, float):
            module.p = 0.0
    ours = impl_torch.from_spec(ms)
    impl_torch.load_canonical_state(ours, weights)
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([1, 7, 3, 999])
    for net in (ours, theirs):
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    after_ours = impl_torch.canonical_state(ours)
    from effnet.weights_convert.formats import FORMATS, to_canonical

    after_theirs = to_canonical(
        {k: v.detach().numpy() for k, v in theirs.state_dict().items()}, ms, FORMATS["torchvision"]
    )
    bound = tolerance("float32", "update")
    worst = max((max_rel(after_ours[k], after_theirs[k]), k) for k in after_ours)
    assert worst[0] <= bound, worst
    moved = max(np.abs(after_ours[k] - weights[k]).max() for k in after_ours)
    assert moved > 1e-3, "the step must actually change the weights"


def test_canonical_state_is_a_snapshot(tiny):
    """The canonical arrays are copies: training the model afterwards does not change them."""
    from effnet.impl_torch.build import canonical_state

    model = impl_torch.from_spec(tiny)
    state = canonical_state(model)
    before = {k: v.copy() for k, v in state.items()}
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.add_(1)
    assert all(np.array_equal(state[k], before[k]) for k in state)
