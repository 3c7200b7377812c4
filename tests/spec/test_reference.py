"""The numpy reference against hand-computed tiny cases, and its own consistency."""

import numpy as np
import pytest

from effnet import spec
from effnet.spec import padding
from effnet.spec import reference as ref


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [
        (8, 3, 2, (0, 1)),  # even input, k3 s2: the extra pixel goes after (bottom/right)
        (7, 3, 2, (1, 1)),  # odd input: symmetric
        (8, 5, 2, (1, 2)),
        (9, 5, 2, (2, 2)),
        (8, 3, 1, (1, 1)),
        (5, 1, 2, (0, 0)),
    ],
)
def test_tf_same_pads(size, kernel, stride, expected):
    assert padding.tf_same_pads(size, kernel, stride) == expected


def test_conv_tf_same_even_input_by_hand():
    # 4x4 ramp, 3x3 all-ones kernel, stride 2, TF SAME pads (0, 1): windows start at 0 and 2.
    x = np.arange(16, dtype=float).reshape(1, 4, 4, 1)
    k = np.ones((3, 3, 1, 1))
    y = ref.conv2d(x, k, 2, "tf_same")[0, :, :, 0]
    # top-left window rows 0-2, cols 0-2; bottom-right window rows 2-3 (+pad), cols 2-3 (+pad)
    assert y.tolist() == [[45.0, 39.0], [66.0, 50.0]]
    # symmetric padding would centre the first window at (0, 0): rows -1..1, cols -1..1
    assert ref.conv2d(x, k, 2, "symmetric")[0, 0, 0, 0] == 0 + 1 + 4 + 5


def test_conv_tf_same_odd_input_by_hand():
    x = np.arange(9, dtype=float).reshape(1, 3, 3, 1)
    k = np.ones((3, 3, 1, 1))
    y = ref.conv2d(x, k, 2, "tf_same")[0, :, :, 0]  # pads (1, 1): same as symmetric
    assert y.tolist() == [[8.0, 12.0], [20.0, 24.0]]
    assert np.array_equal(y, ref.conv2d(x, k, 2, "symmetric")[0, :, :, 0])


def test_conv_mixes_channels_with_hwio_kernel():
    x = np.zeros((1, 3, 3, 2))
    x[0, 1, 1] = [1.0, 2.0]
    k = np.zeros((3, 3, 2, 3))
    k[1, 1] = [[1, 0, 3], [0, 1, 5]]  # centre tap: in0 -> out0 (1), out2 (3); in1 -> out1, out2 (5)
    y = ref.conv2d(x, k, 1, "tf_same")
    assert y[0, 1, 1].tolist() == [1.0, 2.0, 13.0]


def test_depthwise_conv_by_hand():
    x = np.ones((1, 3, 3, 2))
    x[..., 1] = 2.0
    k = np.zeros((3, 3, 1, 2))
    k[..., 0, 0] = 1.0  # channel 0 sums its window
    k[1, 1, 0, 1] = 10.0  # channel 1 scales its centre
    y = ref.conv2d(x, k, 1, "symmetric", depthwise=True)
    assert y[0, :, :, 0].tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    assert (y[0, :, :, 1] == 20.0).all()


def test_squeeze_excite_by_hand():
    ms = spec.resolve("efficientnet-b0")
    se = ms.blocks[0].se
    w = {
        f"{se.name}.reduce.kernel": np.zeros((1, 1, se.channels, se.reduced_channels)),
        f"{se.name}.reduce.bias": np.zeros(se.reduced_channels),
        f"{se.name}.expand.kernel": np.zeros((1, 1, se.reduced_channels, se.channels)),
        f"{se.name}.expand.bias": np.full(se.channels, np.log(3.0)),
    }  # gate = sigmoid(ln 3) = 0.75
    runner = ref._Runner(ms, w, training=False, dtype=np.dtype(np.float64))
    x = np.full((1, 2, 2, se.channels), 4.0)
    assert np.allclose(runner.squeeze_excite(se, x), 3.0)
    # non-zero reduce path: mean 4 -> silu(4 * 1) on one unit -> expand weight 1 -> gate
    w[f"{se.name}.reduce.kernel"][0, 0, :, 0] = 1.0 / se.channels
    w[f"{se.name}.expand.kernel"][0, 0, 0, :] = 1.0
    runner = ref._Runner(ms, w, training=False, dtype=np.dtype(np.float64))
    gate = 1 / (1 + np.exp(-(ref.silu(np.array(4.0)) + np.log(3.0))))
    assert np.allclose(runner.squeeze_excite(se, x), 4.0 * gate)


def test_batch_norm_eval_and_train():
    ms = spec.resolve("efficientnetv2-b0")
    c = ms.stem.out_channels
    w = {
        "stem.bn.scale": np.full(c, 2.0),
        "stem.bn.bias": np.full(c, 1.0),
        "stem.bn.mean": np.full(c, 3.0),
        "stem.bn.var": np.full(c, 4.0 - ms.bn_eps),
    }
    x = np.full((2, 2, 2, c), 7.0)
    x[1] = 9.0  # batch mean 8, biased variance 1
    runner = ref._Runner(ms, w, training=False, dtype=np.dtype(np.float64))
    assert np.allclose(runner.batch_norm("stem", x)[0], (7 - 3) / 2 * 2 + 1)
    runner = ref._Runner(ms, w, training=True, dtype=np.dtype(np.float64))
    y = runner.batch_norm("stem", x)
    assert np.allclose(y[0], -1 / np.sqrt(1 + ms.bn_eps) * 2 + 1)
    d = ms.bn_decay
    assert np.allclose(runner.new_stats["stem.bn.mean"], d * 3 + (1 - d) * 8)
    assert np.allclose(runner.new_stats["stem.bn.var"], d * (4 - ms.bn_eps) + (1 - d) * 1)


def test_forward_names_shapes_and_determinism():
    ms = spec.resolve("efficientnetv2-b0", num_classes=7)
    w = ref.random_weights(ms, seed=1)
    x = np.random.default_rng(0).normal(size=(2, 37, 29, 3))
    out = ref.forward(ms, w, x)
    assert list(out.intermediates)[:2] == ["stem", "blocks.0"]
    assert out.intermediates["stem"].shape == (2, 19, 15, 32)
    assert out.intermediates[ms.blocks[-1].name].shape == (2, 2, 1, 192)
    assert out.logits.shape == (2, 7) and np.isfinite(out.logits).all()
    assert np.array_equal(out.logits, ref.forward(ms, w, x).logits)
    top = ref.forward(
        ms, {k: v for k, v in w.items() if not k.startswith("classifier")}, x, include_top=False
    )
    assert "logits" not in top.intermediates
    assert np.array_equal(top.intermediates["pre_logits"], out.intermediates["pre_logits"])


def test_forward_rejects_bad_input_and_weights():
    ms = spec.resolve("efficientnetv2-b0")
    w = ref.random_weights(ms)
    with pytest.raises(spec.SpecError, match="NHWC"):
        ref.forward(ms, w, np.zeros((1, 3, 32, 32)))
    bad = dict(w)
    del bad["stem.bn.mean"]
    bad["head.conv.kernel"] = np.zeros((1, 1, 3, 3))
    bad["extra"] = np.zeros(1)
    with pytest.raises(
        spec.SpecError,
        match=r"1 missing: stem.bn.mean.*1 unexpected: "
        r"extra.*1 misshaped: head.conv.kernel",
    ):
        ref.forward(ms, bad, np.zeros((1, 32, 32, 3)))


def test_preprocess_matches_mean_std():
    p = spec.resolve("efficientnet-b0").preprocessing
    px = np.array([[[[255.0, 0.0, 127.5]]]])
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    assert np.allclose(ref.preprocess(p, px), (px / 255 - mean) / std)


def test_tf_same_pads_integer_form_equals_the_definition():
    """spec.padding computes TF SAME in integer arithmetic (exported graphs keep it symbolic); it must
    equal the definition max((ceil(n / s) - 1) * s + k - n, 0), extra pixel after, for every size."""
    import math

    from effnet.spec.padding import output_size, tf_same_pads

    for n in range(1, 400):
        for k in range(1, 8):
            for s in range(1, 4):
                total = max((math.ceil(n / s) - 1) * s + k - n, 0)
                assert tf_same_pads(n, k, s) == (total // 2, total - total // 2), (n, k, s)
                assert output_size(n, s) == math.ceil(n / s)
