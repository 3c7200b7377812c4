"""The conformance matrix's bookkeeping: each (implementation, model, profile) result is stored as it
is known, a rerun reuses it, and a stored result for another spec, a lower level or another version
of the adapter is not reused."""

import json

import pytest

from effnet.conformance import matrix

NUMPY = matrix.Implementation("numpy reference", "numpy")


def run(parts: matrix.Parts, level: str = "L0") -> dict:
    return matrix.run(level, parts, implementations=(NUMPY,), models=["efficientnetv2-b0"])


def test_rows_are_stored_and_reused(tmp_path, monkeypatch):
    parts = matrix.Parts(tmp_path)
    first = run(parts)
    assert [r["model"] for r in first["rows"]] == ["efficientnetv2-b0"]
    assert first["rows"][0]["levels"]["L0"]["status"] == "pass"
    stored = parts.path(NUMPY, "efficientnetv2-b0", "paper")
    assert stored.is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("a stored row was certified again")

    monkeypatch.setattr(matrix, "certify_model", refuse)
    again = run(parts)
    assert again["rows"] == first["rows"]
    assert "numpy reference" in matrix.markdown(again)


@pytest.mark.parametrize("change", ["spec_hash", "level", "adapter_version"])
def test_stale_rows_are_certified_again(tmp_path, change):
    parts = matrix.Parts(tmp_path)
    run(parts)
    stored = parts.path(NUMPY, "efficientnetv2-b0", "paper")
    doc = json.loads(stored.read_text())
    version = doc["implementation"]["adapter_version"]
    if change == "spec_hash":
        doc["models"][0]["spec_hash"] = "0" * 16
    if change == "adapter_version":  # an adapter that has changed since (it may check more now)
        doc["implementation"]["adapter_version"] = "0"
    level = "L1" if change == "level" else "L0"
    stored.write_text(json.dumps(doc))
    assert parts.get(NUMPY, "efficientnetv2-b0", "paper", level, version) is None
    result = run(parts, level)
    assert result["rows"][0]["levels"]["L0"]["status"] == "pass"
    assert parts.get(NUMPY, "efficientnetv2-b0", "paper", level) is not None


def test_unfinished_rows_are_listed_as_pending(tmp_path):
    parts = matrix.Parts(tmp_path)
    partial = matrix.assemble("L0", parts, (NUMPY,), ["efficientnetv2-b0"], {}, 0.0)
    assert partial["rows"] == [] and partial["pending"] == ["numpy reference: efficientnetv2-b0 (paper)"]
    assert "Pending (claimed, not yet certified: 1 rows)" in matrix.markdown(partial)


@pytest.mark.parametrize("level, status", [("L3", "pass"), ("L4", "fail"), ("L3", "skip")])
@pytest.mark.parametrize("certifier", [1, 2])
def test_an_older_certifiers_train_levels_are_certified_again(tmp_path, level, status, certifier):
    """Certifier 1 reported L3 as the running statistics' error alone, and 1 and 2 ran L3/L4 on 2
    images: such parts are not reused unless their L3 and L4 were skipped (inference only)."""
    parts = matrix.Parts(tmp_path)
    run(parts)
    stored = parts.path(NUMPY, "efficientnetv2-b0", "paper")
    doc = json.loads(stored.read_text())
    assert doc["certifier"] == matrix.CERTIFIER == 3
    doc["certifier"] = certifier
    if certifier == 1:
        del doc["certifier"]
    doc["checks"].append({**doc["checks"][0], "level": level, "status": status})
    stored.write_text(json.dumps(doc))
    reused = parts.get(NUMPY, "efficientnetv2-b0", "paper", "L0")
    assert (reused is None) == (status != "skip")


def test_a_large_model_is_certified_in_a_child_process(tmp_path, monkeypatch):
    """Above ISOLATED_PARAMS each implementation's row runs in its own process (EfficientNet-L2 beside
    the other frameworks outgrew 24 GiB); the parent certifies nothing of it itself."""
    children = []

    def child(impl, parts, level, models):
        children.append((impl.label, level, models))

    def refuse(*args, **kwargs):
        raise AssertionError("a large model was certified in the parent process")

    monkeypatch.setattr(matrix, "ISOLATED_PARAMS", 1_000_000)  # V2-B0 has 7.1M
    monkeypatch.setattr(matrix, "_in_child", child)
    monkeypatch.setattr(matrix, "certify_model", refuse)
    run(matrix.Parts(tmp_path))
    assert children == [("numpy reference", "L0", ["efficientnetv2-b0"])]
