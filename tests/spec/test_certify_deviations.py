"""Declared deviations: a failing check a cited deviation explains is ``deviation`` (never ``pass``);
the same failure undeclared is ``fail``; a deviations file without a citation is refused."""

from __future__ import annotations

import numpy as np
import pytest

from effnet.cli.main import main
from effnet.conformance import deviations
from effnet.conformance.adapters.reference_numpy import NumpyReferenceAdapter
from effnet.conformance.certify import certify_model


class _OffLogits(NumpyReferenceAdapter):
    """The reference with its logits shifted: fails L1 at the classifier, nowhere else."""

    name = "numpy-off"

    def forward(self, model, x, *, training=False):
        out = super().forward(model, x, training=training)
        return {**out, "logits": out["logits"] + np.float32(0.01) * np.abs(out["logits"]).max()}


def _write(tmp_path, text):
    path = tmp_path / "deviations.yaml"
    path.write_text(text)
    return path


def test_declared_deviation_is_reported_with_its_citation(tmp_path):
    declared = deviations.load(
        _write(
            tmp_path,
            "- models: [efficientnetv2-b0]\n  levels: [L1]\n  reason: shifted logits\n  cite: my#1\n",
        )
    )
    result = certify_model(_OffLogits(), "efficientnetv2-b0", "paper", "L1", declared)
    l1 = next(c for c in result.checks if c.level == "L1")
    assert l1.status == "deviation" and l1.citation == "my#1" and l1.first_divergence.startswith("logits ")
    assert result.reached() == "L1"
    undeclared = certify_model(_OffLogits(), "efficientnetv2-b0", "paper", "L1")
    assert [c.status for c in undeclared.checks] == ["pass", "fail"] and undeclared.reached() == "L0"


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("- models: all\n  levels: [L1]\n  reason: r\n", "'cite' is required"),
        ("- levels: [L9]\n  reason: r\n  cite: c\n", "unknown level(s) ['L9']"),
        ("levels: L1\n", "expected a list"),
        ("- [unclosed\n", "not a YAML file"),
    ],
)
def test_bad_deviations_file_is_one_line(tmp_path, capsys, text, complaint):
    path = _write(tmp_path, text)
    out = tmp_path / "out"
    code = main(["conformance", "certify", "--impl", "numpy", "--deviations", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and complaint in err and str(path) in err and err.count("\n") == 1
    assert not out.exists()
