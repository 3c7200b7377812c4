"""``effnet conformance certify`` on the JAX backend, to L4 (one small model; the full matrix is
``nox -s certify``)."""

from __future__ import annotations

import json

from effnet.cli.main import main


def test_jax_backend_certifies_to_l4(tmp_path, capsys):
    out = tmp_path / "c"
    args = ["conformance", "certify", "--impl", "jax", "--models", "efficientnetv2-b0", "--level", "L4"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0, capsys.readouterr().out
    doc = json.loads((out / "result.json").read_text())
    assert doc["passed"] and doc["models"][0]["reached"] == "L4"
    assert {c["level"] for c in doc["checks"] if c["status"] == "pass"} == {"L0", "L1", "L2", "L3", "L4"}
