"""`effnet conformance report` writes a complete, well-formed report."""

import json

import pytest

from effnet.cli.main import main

from .conftest import NAMES


def test_report_files(tmp_path, capsys):
    if len(NAMES) < 2:  # the report runs every installed backend, whatever the selection
        pytest.skip("the report covers every installed backend: run once, by the conformance session")
    code = main(["conformance", "report", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["meta"]["backends"] == sorted(set(report["meta"]["backends"]))
    assert set(NAMES) <= set(report["meta"]["backends"])
    ran = report["checks"]
    assert ran and all(c["passed"] for c in ran)
    assert {c["property"] for c in ran} == {"eval", "train", "grad", "roundtrip"}
    assert all(s["message"] for s in report["skipped"]), "every skip has a reason"
    markdown = (tmp_path / "report.md").read_text()
    assert "| subject | comparison | property |" in markdown and "## Skipped" in markdown
    png = (tmp_path / "heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
