"""``effnet conformance certify`` on keras.applications (one small model; the full matrix is
``nox -s certify``): V1-B0, whose in-model Normalization must hold the spec's mean and variance."""

from __future__ import annotations

import json

from effnet.cli.main import main


def test_keras_applications_v1_certifies_to_l2(tmp_path, capsys):
    out = tmp_path / "c"
    args = ["conformance", "certify", "--impl", "keras-applications", "--models", "EfficientNetB0"]
    code = main([*args, "--level", "L2", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().out
    doc = json.loads((out / "result.json").read_text())
    (model,) = doc["models"]
    assert (model["model"], model["profile"], model["reached"]) == ("efficientnet-b0", "keras", "L2")
    evals = [c for c in doc["checks"] if c["level"] in ("L1", "L2")]
    assert len(evals) == 4 and all(c["status"] == "pass" for c in evals)
