"""``effnet conformance certify`` on the Keras libraries (one small model each; the full matrix is
``nox -s certify``): keras.applications V1-B0, whose in-model Normalization must hold the spec's mean and
variance, to L4 (its train mode: the spec's dropout rates set on Keras' fixed ones), and keras-hub's B0
backbone."""

from __future__ import annotations

import json

import pytest

from effnet.cli.main import main


def test_keras_applications_v1_certifies_to_l4(tmp_path, capsys):
    """Eval (L1, L2) and, with the adapter's train mode, the batch-statistics forward with Keras' own
    moving-statistics update (L3) and the gradient (L4)."""
    out = tmp_path / "c"
    args = ["conformance", "certify", "--impl", "keras-applications", "--models", "EfficientNetB0"]
    code = main([*args, "--level", "L4", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().out
    doc = json.loads((out / "result.json").read_text())
    (model,) = doc["models"]
    assert (model["model"], model["profile"], model["reached"]) == ("efficientnet-b0", "keras", "L4")
    status = [(c["level"], c["status"]) for c in doc["checks"]]
    assert status == [("L0", "pass")] + [("L1", "pass")] + [("L2", "pass")] * 3 + [
        ("L3", "pass"),
        ("L4", "pass"),
    ]


def test_keras_hub_certifies_to_l4_with_its_declared_running_statistics(tmp_path, capsys):
    """keras-hub's EfficientNet-B0 backbone (random weights, no preset downloaded), profile timm: L0-L2
    and L4 pass; L3's running statistics are its declared deviation (the blocks' BN momentum)."""
    pytest.importorskip("keras_hub")
    out = tmp_path / "c"
    args = ["conformance", "certify", "--impl", "keras-hub", "--models", "efficientnet-b0"]
    code = main([*args, "--level", "L4", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().out
    doc = json.loads((out / "result.json").read_text())
    (model,) = doc["models"]
    assert (model["model"], model["profile"], model["reached"]) == ("efficientnet-b0", "timm", "L4")
    status = {(c["level"], c["check"]): c["status"] for c in doc["checks"]}
    assert [s for (lv, _), s in status.items() if lv != "L3"] == ["pass"] * 6
    (l3,) = [c for c in doc["checks"] if c["level"] == "L3"]
    assert l3["status"] == "deviation" and "keras-team/keras-hub@" in l3["citation"]
    assert ".bn.var" in l3["first_divergence"] and "running statistics" in l3["first_divergence"]
