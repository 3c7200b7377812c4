"""``effnet export`` from the torch backend: ONNX (ONNX Runtime) and torch.export (.pt2), loaded back
and certified against the float64 numpy oracle at the eval size and odd non-square sizes (one dynamic
file serves every size: TF SAME pads come from the run-time shape); metadata; clean one-line errors
with nothing half-written."""

from __future__ import annotations

import numpy as np
import pytest

from effnet.cli.main import main
from effnet.conformance.adapters import find
from effnet.conformance.adapters.exported import check_export, check_file
from effnet.conformance.certify import certify_model
from effnet.impl_torch import export, from_spec, load_exported
from effnet.impl_torch.build import canonical_state
from effnet.weights_convert.export_meta import ExportError

pytest.importorskip("onnxruntime", reason="the [export] extra installs onnxruntime")


def test_onnx_dynamic_is_certified_l2_against_the_oracle():
    """The certification adapter exports V2-B0 with the certifier's calibrated weights once, with
    dynamic height/width/batch, and runs that one file at 224, 227x193, 97x131 and 33x33."""
    result = certify_model(find("torch-onnx"), "efficientnetv2-b0", "paper", "L2")
    assert result.reached() == "L2", [(c.check, c.status, c.message) for c in result.checks]
    assert all(c.max_rel <= c.tolerance for c in result.checks if c.level != "L0")


@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("torch-export", ".pt2")])
def test_tiny_dynamic_with_preprocessing(tiny, tmp_path, fmt, suffix):
    """The tiny spec model (both block kinds, SE, TF SAME): a dynamic file with the scaling baked in
    matches the oracle at every size the certifier uses, with calibrated weights and its own."""
    model = from_spec(tiny)
    (folder := tmp_path / "out").mkdir()
    path = export(
        model,
        folder / f"tiny{suffix}",
        format=fmt,
        dynamic=True,
        dynamic_batch=True,
        include_preprocessing=True,
    )
    exported = load_exported(path)
    meta = exported.metadata
    assert meta["model"] == "tiny-net" and meta["spec_hash"] == tiny.spec_hash and meta["format"] == fmt
    assert meta["image_size"] == "dynamic" and meta["batch"] == "dynamic" and meta["input_layout"] == "NCHW"
    assert meta["include_preprocessing"] and meta["spec_version"] == tiny.spec_version
    checks = check_file(exported, tiny, canonical_state(model))
    assert [c.size for c in checks] == [(32, 32), (227, 193), (97, 131), (33, 33)]
    assert all(c.result.ok for c in checks), [str(c.result) for c in checks]
    calibrated = check_export("torch", fmt, tiny, meta, include_preprocessing=True)
    assert all(c.result.ok for c in calibrated), [str(c.result) for c in calibrated]
    assert list(folder.iterdir()) == [path]  # no temporary file left beside it
    assert exported(np.zeros((3, 3, 41, 50), np.float32)).shape == (3, 5)
    with pytest.raises(ExportError, match="height and width must be >= 5"):
        exported(np.zeros((1, 3, 4, 40), np.float32))


def test_fixed_size_file_refuses_another_size(tiny, tmp_path):
    path = export(from_spec(tiny), tmp_path / "t.onnx", image_size=(40, 24), batch=2)
    exported = load_exported(path)
    assert exported.metadata["image_size"] == [40, 24] and exported.metadata["batch"] == 2
    assert exported(np.zeros((2, 3, 40, 24), np.float32)).shape == (2, 5)
    with pytest.raises(ExportError, match="takes 40x24 images only"):
        exported(np.zeros((2, 3, 41, 24), np.float32))


def test_a_failed_export_leaves_nothing(tiny, tmp_path, monkeypatch):
    import torch

    def boom(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    (folder := tmp_path / "out").mkdir()
    target = folder / "t.onnx"
    target.write_bytes(b"old")
    monkeypatch.setattr(torch.onnx, "export", boom)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export(from_spec(tiny), target, dynamic=True)
    assert target.read_bytes() == b"old" and list(folder.iterdir()) == [target]


def test_cli_export_and_check(tmp_path, capsys):
    out = tmp_path / "b0.onnx"
    argv = ["export", "--backend", "torch", "--model", "efficientnetv2-b0", "--format", "onnx"]
    code = main([*argv, "--image-size", "64", "--out", str(out), "--check"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "L2 eval 64x64: pass" in printed and printed.rstrip().endswith("check: passed")
    assert load_exported(out).metadata["image_size"] == [64, 64]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "torch", "--model", "nope", "--format", "onnx"], "unknown model 'nope'"),
        (
            ["--backend", "torch", "--model", "efficientnetv2-b0", "--format", "litert"],
            "cannot export 'litert'",
        ),
        (
            ["--backend", "tf", "--model", "efficientnetv2-b0", "--format", "litert", "--dynamic"],
            "fixed input",
        ),
        (
            ["--backend", "torch", "--model", "efficientnetv2-b0", "--format", "saved-model"],
            "written by the 'tf' and 'jax' backends",
        ),
        (
            ["--backend", "jax", "--model", "efficientnetv2-b0", "--format", "saved-model", "--dynamic"],
            "fixed input",
        ),
        (["--backend", "nope", "--model", "efficientnetv2-b0", "--format", "onnx"], "unknown backend"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    code = main(["export", *args, "--out", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_cli_unwritable_destination(tmp_path, capsys):
    code = main(
        [
            "export",
            "--backend",
            "torch",
            "--model",
            "efficientnetv2-b0",
            "--format",
            "onnx",
            "--out",
            str(tmp_path / "missing" / "x.onnx"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
