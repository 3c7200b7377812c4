"""Converters: bit-exact round trips, complete key sets, bad input refused clearly, atomic writes,
and `effnet convert` end to end."""

import pickle

import numpy as np
import pytest
import torch

from effnet import impl_torch, spec
from effnet.cli.main import main
from effnet.weights_convert import WeightsError, convert
from effnet.weights_convert.formats import FORMATS, from_canonical, to_canonical

from .helpers import CI_REFERENCES, foreign_model, profile_of


@pytest.mark.parametrize("name, library, foreign_name", CI_REFERENCES, ids=lambda v: str(v))
def test_foreign_canonical_foreign_is_bit_exact(name, library, foreign_name):
    ms = spec.resolve(name, profile=profile_of(library, foreign_name))
    net = foreign_model(library, foreign_name)
    with torch.no_grad():
        for buf in net.buffers():
            if buf.is_floating_point():
                buf.uniform_(0.5, 1.5)  # non-trivial running statistics
    original = {k: v.numpy() for k, v in net.state_dict().items()}
    fmt = FORMATS[library]
    back = from_canonical(to_canonical(original, ms, fmt), ms, fmt)
    assert set(back) == set(original)  # complete key sets, num_batches_tracked included
    for key, value in original.items():
        if not key.endswith("num_batches_tracked"):
            assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key


def test_native_state_round_trip_and_key_count():
    model = impl_torch.build("efficientnetv2-b0")
    weights = impl_torch.canonical_state(model)
    assert len(weights) == len(spec.canonical.tensors(model.spec))
    other = impl_torch.build("efficientnetv2-b0")
    impl_torch.load_canonical_state(other, weights)
    for (k, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_build_from_each_file_format(tmp_path):
    tv = foreign_model("torchvision", "efficientnet_b0").eval()
    src = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), src)
    model = impl_torch.build("efficientnet-b0", weights=src).eval()  # format and profile detected
    assert model.spec.profile == "torchvision"
    x = torch.randn(2, 3, 57, 63)
    with torch.no_grad():
        expected = tv(x)
        assert torch.equal(model(x), expected)
    for fmt, suffix in (
        ("canonical", ".safetensors"),
        ("torch", ".pt"),
        ("torch", ".safetensors"),
        ("timm", ".pth"),
    ):
        dst = tmp_path / f"out_{fmt}{suffix}"
        convert.convert_file(src, dst, "efficientnet-b0", to_fmt=fmt)
        again = impl_torch.build(
            "efficientnet-b0", weights=dst, weights_format=fmt, profile="torchvision"
        ).eval()
        with torch.no_grad():
            assert torch.equal(again(x), expected), fmt


def test_wrapped_and_ddp_state_dicts(tmp_path):
    net = impl_torch.build("efficientnetv2-b0")
    path = tmp_path / "ddp.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    loaded = convert.load(path, "efficientnetv2-b0")
    assert loaded.format == "torch" and len(loaded.weights) == len(spec.canonical.tensors(net.spec))


def test_mismatched_checkpoint_lists_every_problem(tmp_path):
    state = foreign_model("torchvision", "efficientnet_b0").state_dict()
    del state["features.0.1.running_mean"], state["classifier.1.bias"]
    state["features.8.0.weight"] = torch.zeros(3, 3, 1, 1)
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as info:
        impl_torch.build("efficientnet-b0", weights=path)
    message = str(info.value)
    assert "2 missing: features.0.1.running_mean, classifier.1.bias" in message
    assert "1 unexpected: extra.weight" in message
    assert "1 misshaped: features.8.0.weight (3, 3, 1, 1) (expected (1280, 320, 1, 1))" in message
    assert info.value.missing == ["features.0.1.running_mean", "classifier.1.bias"]


def test_wrong_model_suggests_the_right_one(tmp_path):
    path = tmp_path / "b0.pth"
    torch.save(foreign_model("torchvision", "efficientnet_b0").state_dict(), path)
    with pytest.raises(WeightsError, match="fits efficientnet-b0; pass that model"):
        convert.load(path, "efficientnet-b1")


class Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"x": Payload()}, f, protocol=2)
    with pytest.raises(WeightsError, match="refused.*weights_only=True"):
        convert.load(path, "efficientnet-b0", fmt="torchvision")


def test_unknown_model_and_format(tmp_path):
    with pytest.raises(spec.SpecError, match="unknown model"):
        impl_torch.build("efficientnet-b42")
    with pytest.raises(WeightsError, match="unknown weights format 'onnx'"):
        convert.load(tmp_path / "x.pth", "efficientnet-b0", fmt="onnx")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable torch checkpoint"):
        convert.load(junk, "efficientnet-b0", fmt="torch")
    with pytest.raises(FileNotFoundError):
        convert.load(tmp_path / "missing.pth", "efficientnet-b0")


def test_failed_conversion_leaves_nothing(tmp_path, capsys):
    state = foreign_model("torchvision", "efficientnet_b0").state_dict()
    del state["features.0.0.weight"]
    src = tmp_path / "bad.pth"
    torch.save(state, src)
    dst = tmp_path / "out" / "b0.safetensors"
    code = main(["convert", str(src), str(dst), "--model", "efficientnet-b0"])
    err = capsys.readouterr().err
    assert code == 2 and "1 missing: features.0.0.weight" in err and "Traceback" not in err
    assert not dst.exists() and [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["bad.pth"]


def test_timm_profile_is_never_guessed_from_the_file_name(tmp_path, capsys):
    """timm's TF-ported and PyTorch-native checkpoints share every tensor name: a file named like a
    tf_* model must not pick the profile, and with no profile the error lists the choices."""
    src = tmp_path / "tf_efficientnetv2_b0.pth"
    torch.save(foreign_model("timm", "tf_efficientnetv2_b0").state_dict(), src)
    dst = tmp_path / "b0.safetensors"
    assert main(["convert", str(src), str(dst), "--model", "efficientnetv2-b0"]) == 2
    err = capsys.readouterr().err
    assert "pass --profile (timm, timm_tf)" in err and err.count("\n") == 1 and not dst.exists()
    assert main(["convert", str(src), str(dst), "--model", "efficientnetv2-b0", "--profile", "timm_tf"]) == 0
    assert "profile timm_tf," in capsys.readouterr().out


def test_cli_convert_with_check(tmp_path, capsys):
    src = tmp_path / "b0.pth"  # the library's model name, not the file's, says which model it is
    torch.save(foreign_model("timm", "tf_efficientnetv2_b0").state_dict(), src)
    dst = tmp_path / "b0.safetensors"
    code = main(["convert", str(src), str(dst), "--model", "tf_efficientnetv2_b0", "--check"])
    out = capsys.readouterr().out
    assert code == 0 and "profile timm_tf" in out and "max |src - dst| = 0," in out
    back = tmp_path / "back.pth"
    assert (
        main(["convert", str(dst), str(back), "--model", "efficientnetv2-b0", "--to", "timm", "--check"]) == 0
    )
    assert "relative 0" in capsys.readouterr().out
