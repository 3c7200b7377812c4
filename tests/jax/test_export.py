"""``effnet export`` from the jax backend: serialized StableHLO (jax.export), fixed height and width,
loaded back with ``jax.export.deserialize`` and checked against the float64 numpy oracle."""

from __future__ import annotations

import numpy as np
import pytest

from effnet.conformance.adapters.exported import check_export, check_file
from effnet.impl_jax import canonical_state, export, from_spec, load_exported
from effnet.impl_jax.export import split
from effnet.weights_convert.export_meta import ExportError


def test_tiny_stablehlo(tiny, tmp_path):
    from jax import export as jax_export

    model = from_spec(tiny)
    path = export(
        model, tmp_path / "t.stablehlo", image_size=(40, 24), dynamic_batch=True, include_preprocessing=True
    )
    exported = load_exported(path)
    meta = exported.metadata
    assert meta["format"] == "stablehlo" and meta["image_size"] == [40, 24] and meta["batch"] == "dynamic"
    (check,) = check_file(exported, tiny, canonical_state(model))
    assert check.size == (40, 24) and check.result.ok, str(check.result)
    (calibrated,) = check_export("jax", "stablehlo", tiny, meta, include_preprocessing=True)
    assert calibrated.result.ok, str(calibrated.result)
    assert exported(np.zeros((3, 40, 24, 3), np.float32)).shape == (3, 5)
    with pytest.raises(ExportError, match="takes 40x24 images only"):
        exported(np.zeros((1, 41, 24, 3), np.float32))
    with pytest.raises(ExportError, match="fixed input size"):
        export(model, tmp_path / "x.stablehlo", dynamic=True)
    serialized, _ = split(path.read_bytes())  # the plain jax.export bytes, for users without effnet
    assert jax_export.deserialize(bytearray(serialized)).in_avals[0].shape[1:] == (40, 24, 3)


def test_tiny_saved_model_through_jax2tf(tiny, tmp_path):
    tf = pytest.importorskip("tensorflow")

    model = from_spec(tiny)
    path = export(model, tmp_path / "t_sm", format="saved-model", image_size=(40, 24), dynamic_batch=True)
    exported = load_exported(path)
    meta = exported.metadata
    assert meta["backend"] == "jax" and meta["format"] == "saved-model"
    assert meta["image_size"] == [40, 24] and meta["batch"] == "dynamic"
    (check,) = check_file(exported, tiny, canonical_state(model))
    assert check.size == (40, 24) and check.result.ok, str(check.result)
    (calibrated,) = check_export("jax", "saved-model", tiny, meta, include_preprocessing=True)
    assert calibrated.result.ok, str(calibrated.result)
    assert exported(np.zeros((3, 40, 24, 3), np.float32)).shape == (3, 5)
    with pytest.raises(ExportError, match="takes 40x24 images only"):
        exported(np.zeros((1, 41, 24, 3), np.float32))
    with pytest.raises(ExportError, match="fixed input size"):
        export(model, tmp_path / "x_sm", format="saved-model", dynamic=True)
    assert not (tmp_path / "x_sm").exists()
    # a plain SavedModel: TF alone runs it, through its serving signature
    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert fn(images=tf.zeros((2, 40, 24, 3)))["logits"].shape == (2, 5)
