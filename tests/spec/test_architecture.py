"""Resolved structure vs spec/SOURCES.md §1.3 (stem, head, blocks, per-stage repeats and channels) and the
invariants every resolved model must satisfy, for every model and every profile that defines it."""

import pytest

from effnet import spec

# SOURCES §1.3 summary table: stem, head, #blocks, per-stage repeats, per-stage out channels
TABLE = {
    "efficientnet-b0": (32, 1280, 16, "1/2/2/3/3/4/1", "16/24/40/80/112/192/320"),
    "efficientnet-b1": (32, 1280, 23, "2/3/3/4/4/5/2", "16/24/40/80/112/192/320"),
    "efficientnet-b2": (32, 1408, 23, "2/3/3/4/4/5/2", "16/24/48/88/120/208/352"),
    "efficientnet-b3": (40, 1536, 26, "2/3/3/5/5/6/2", "24/32/48/96/136/232/384"),
    "efficientnet-b4": (48, 1792, 32, "2/4/4/6/6/8/2", "24/32/56/112/160/272/448"),
    "efficientnet-b5": (48, 2048, 39, "3/5/5/7/7/9/3", "24/40/64/128/176/304/512"),
    "efficientnet-b6": (56, 2304, 45, "3/6/6/8/8/11/3", "32/40/72/144/200/344/576"),
    "efficientnet-b7": (64, 2560, 55, "4/7/7/10/10/13/4", "32/48/80/160/224/384/640"),
    "efficientnetv2-b0": (32, 1280, 21, "1/2/2/3/5/8", "16/32/48/96/112/192"),
    "efficientnetv2-b1": (32, 1280, 27, "2/3/3/4/6/9", "16/32/48/96/112/192"),
    "efficientnetv2-b2": (32, 1408, 28, "2/3/3/4/6/10", "16/32/56/104/120/208"),
    "efficientnetv2-b3": (40, 1536, 32, "2/3/3/5/7/12", "16/40/56/112/136/232"),
    "efficientnetv2-s": (24, 1280, 40, "2/4/4/6/9/15", "24/48/64/128/160/256"),
    "efficientnetv2-m": (24, 1280, 57, "3/5/5/7/14/18/5", "24/48/80/160/176/304/512"),
    "efficientnetv2-l": (32, 1280, 79, "4/7/7/10/19/25/7", "32/64/96/192/224/384/640"),
    "efficientnetv2-xl": (32, 1280, 100, "4/8/8/16/24/32/8", "32/64/96/192/256/512/640"),
}


def _pairs():
    for profile in spec.profile_names():
        for name in spec.names():
            try:
                yield spec.resolve(name, profile=profile)
            except spec.SpecError:
                continue  # the profile's implementation does not define this model


ALL = list(_pairs())


@pytest.mark.parametrize("name", TABLE)
def test_structure_matches_architecture_facts(name):
    stem, head, n_blocks, repeats, channels = TABLE[name]
    ms = spec.resolve(name)
    assert ms.stem.out_channels == stem
    assert ms.head.out_channels == head
    assert len(ms.blocks) == n_blocks
    assert "/".join(str(len(s)) for s in ms.stages) == repeats
    assert "/".join(str(s[-1].out_channels) for s in ms.stages) == channels


def test_se_widths_follow_block_input():
    # SOURCES §1.3 B0 stage 2: first block SE 4 (16 * 0.25), repeat blocks 6 (24 * 0.25)
    b0 = spec.resolve("efficientnet-b0")
    assert [b.se_channels for b in b0.stages[1]] == [4, 6]
    assert b0.blocks[0].se_channels == 8 and b0.blocks[0].expand is None
    v2s = spec.resolve("efficientnetv2-s")
    assert [b.se_channels for b in v2s.stages[3][:2]] == [16, 32]
    assert all(b.se is None and b.dw is None for s in v2s.stages[:3] for b in s)


@pytest.mark.parametrize("ms", ALL, ids=lambda m: f"{m.name}[{m.profile}]")
def test_resolve_invariants(ms):
    divisor = 8
    assert ms.stem.out_channels % divisor == 0 and ms.head.out_channels % divisor == 0
    previous = ms.stem.out_channels
    rates = []
    for stage in ms.stages:
        for j, block in enumerate(stage):
            assert block.out_channels % divisor == 0
            assert block.in_channels == previous, "each block's input is the previous output"
            assert block.stride == 1 or j == 0, "only a stage's first block strides"
            assert block.residual == (block.stride == 1 and block.in_channels == block.out_channels)
            assert block.project.out_channels == block.out_channels
            assert block.convs[0].in_channels == block.in_channels
            assert [c.stride for c in block.convs].count(block.stride) >= 1
            assert sum(c.stride != 1 for c in block.convs) == (block.stride != 1)
            if block.kind == "fused_mbconv":
                assert block.dw is None
            else:
                assert block.dw is not None and block.dw.depthwise
            previous = block.out_channels
            rates.append(block.drop_path_rate)
    assert rates[0] == 0.0
    assert all(a <= b for a, b in zip(rates, rates[1:], strict=False)), "drop-path rises"
    assert ms.head.in_channels == previous


def test_keras_v2_drop_path_uses_unscaled_repeats():
    # SOURCES §3.3 notes: keras V2-B1 last rate 0.2476, V2-B3 last 0.2952; everyone else stays < 0.2
    assert spec.resolve("efficientnetv2-b1", profile="keras").blocks[-1].drop_path_rate == pytest.approx(
        0.2476, abs=1e-4
    )
    assert spec.resolve("efficientnetv2-b3", profile="keras").blocks[-1].drop_path_rate == pytest.approx(
        0.2952, abs=1e-4
    )
    assert spec.resolve("efficientnetv2-b3").blocks[-1].drop_path_rate < 0.2
    assert spec.resolve("efficientnet-b3", profile="keras").blocks[-1].drop_path_rate == pytest.approx(
        0.1923, abs=1e-4
    )


def test_profiles_set_what_the_implementations_do():
    tv = spec.resolve("efficientnet-b0", profile="torchvision")
    assert (tv.padding, tv.bn_eps, tv.bn_decay) == ("symmetric", 1e-5, 0.9)
    assert spec.resolve("efficientnet-b5", profile="torchvision").bn_eps == 1e-3
    assert spec.resolve("efficientnetv2-l", profile="torchvision").preprocessing.offset == pytest.approx(
        (-1.0,) * 3
    )
    tf = spec.resolve("efficientnetv2-b0", profile="timm_tf")
    assert (tf.padding, tf.bn_eps, tf.dropout, tf.drop_path_rate) == ("tf_same", 1e-3, 0.0, 0.0)
    assert spec.resolve("efficientnetv2-m", profile="keras").dropout == 0.2
    paper = spec.resolve("efficientnetv2-s")
    assert paper.preprocessing.scale == (1 / 128,) * 3 and paper.preprocessing.offset == (-1.0,) * 3


def test_overrides_and_hash():
    base = spec.resolve("efficientnetv2-b0")
    small = spec.resolve("efficientnetv2-b0", num_classes=10, dropout=0.0)
    assert small.num_classes == 10 and small.dropout == 0.0
    assert small.spec_hash != base.spec_hash
    assert spec.resolve("efficientnetv2-b0").spec_hash == base.spec_hash
    bn = spec.resolve("efficientnetv2-b0", bn={"eps": 1e-5})
    assert bn.bn_eps == 1e-5 and bn.bn_decay == base.bn_decay
    assert ("bn", "caller override") in bn.citations


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"dropuot": 0.1}, "unknown key 'dropuot'"),
        ({"dropout": 1.5}, "dropout"),
        ({"padding": "reflect"}, "reflect"),
        ({"bn": {"eps": "small"}}, "bn.eps"),
    ],
)
def test_bad_overrides_are_spec_errors(kwargs, fragment):
    with pytest.raises(spec.SpecError, match=fragment.replace(".", r"\.")):
        spec.resolve("efficientnet-b0", **kwargs)


def test_unknown_model_and_profile():
    with pytest.raises(spec.SpecError, match="unknown model 'efficientnet-b9'.*efficientnet-b0"):
        spec.resolve("efficientnet-b9")
    with pytest.raises(spec.SpecError, match="unknown profile 'tf'"):
        spec.resolve("efficientnet-b0", profile="tf")
    with pytest.raises(spec.SpecError, match="profile 'torchvision' has no model 'efficientnetv2-b0'"):
        spec.resolve("efficientnetv2-b0", profile="torchvision")
