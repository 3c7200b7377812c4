"""``effnet export`` from the tf backend: a SavedModel with a serving signature (dynamic height and
width) and a LiteRT file (fixed size, refusing any other), loaded back in their own runtimes and
checked against the float64 numpy oracle; V2-B0's SavedModel certified to L2."""

from __future__ import annotations

import numpy as np
import pytest

from effnet.conformance.adapters import find
from effnet.conformance.adapters.exported import check_export, check_file
from effnet.conformance.certify import certify_model
from effnet.impl_tf import canonical_state, export, from_spec, load_exported
from effnet.weights_convert.export_meta import ExportError


def test_saved_model_dynamic_is_certified_l2_against_the_oracle():
    result = certify_model(find("tf-saved-model"), "efficientnetv2-b0", "paper", "L2")
    assert result.reached() == "L2", [(c.check, c.status, c.message) for c in result.checks]


def test_tiny_saved_model_with_preprocessing(tiny, tmp_path):
    model = from_spec(tiny)
    (folder := tmp_path / "out").mkdir()
    path = export(model, folder / "tiny", dynamic=True, dynamic_batch=True, include_preprocessing=True)
    exported = load_exported(path)
    meta = exported.metadata
    assert (
        meta["format"] == "saved-model" and meta["input_layout"] == "NHWC" and meta["image_size"] == "dynamic"
    )
    assert meta["spec_hash"] == tiny.spec_hash and meta["include_preprocessing"]
    checks = check_file(exported, tiny, canonical_state(model))
    assert [c.size for c in checks] == [(32, 32), (227, 193), (97, 131), (33, 33)]
    assert all(c.result.ok for c in checks), [str(c.result) for c in checks]
    assert exported(np.zeros((3, 41, 50, 3), np.float32)).shape == (3, 5)
    assert [p.name for p in folder.iterdir()] == ["tiny"]  # no temporary folder left
    export(model, path, dynamic=True)  # an effnet SavedModel is replaced
    assert not load_exported(path).metadata["include_preprocessing"]


def test_tiny_litert_fixed_size(tiny, tmp_path):
    model = from_spec(tiny)
    path = export(model, tmp_path / "tiny-40x24.tflite", format="litert", image_size=(40, 24))
    exported = load_exported(path)
    assert exported.metadata["image_size"] == [40, 24] and exported.metadata["format"] == "litert"
    (check,) = check_file(exported, tiny, canonical_state(model))
    assert check.size == (40, 24) and check.result.ok, str(check.result)
    (calibrated,) = check_export("tf", "litert", tiny, exported.metadata)
    assert calibrated.result.ok, str(calibrated.result)
    with pytest.raises(ExportError, match="takes 40x24 images only"):
        exported(np.zeros((1, 41, 24, 3), np.float32))
    with pytest.raises(ExportError, match="fixed input size"):
        export(model, tmp_path / "x.tflite", format="litert", dynamic=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-40x24.tflite", "tiny.yaml"]
