"""The canonical checkpoint file: round trip, metadata, strict checks, atomic writes."""

import numpy as np
import pytest

from effnet import spec
from effnet.spec import reference as ref
from effnet.weights_convert import WeightsError, load_canonical, save_canonical
from effnet.weights_convert.canonical_io import read_canonical


@pytest.fixture
def b0():
    ms = spec.resolve("efficientnetv2-b0")
    return ms, ref.random_weights(ms)


def test_round_trip_is_bit_exact_with_metadata(tmp_path, b0):
    ms, w = b0
    path = tmp_path / "b0.safetensors"
    save_canonical(path, ms, w)
    back = load_canonical(path, ms)
    assert list(back) == list(w) or set(back) == set(w)
    assert all(np.array_equal(back[k], w[k]) for k in w)
    meta = read_canonical(path).metadata
    assert meta == {
        "format": "effnet-canonical",
        "spec_version": spec.SPEC_VERSION,
        "model": ms.name,
        "profile": "paper",
        "spec_hash": ms.spec_hash,
        "include_top": "true",
    }


def test_mismatch_lists_every_problem_and_writes_nothing(tmp_path, b0):
    ms, w = b0
    bad = dict(w)
    del bad["stem.bn.mean"], bad["head.bn.var"]
    bad["blocks.0.project.conv.kernel"] = np.zeros((1, 1, 1, 1), np.float32)
    path = tmp_path / "out" / "bad.safetensors"
    with pytest.raises(
        WeightsError,
        match=r"2 missing: stem.bn.mean, head.bn.var; "
        r"1 misshaped: blocks.0.project.conv.kernel",
    ):
        save_canonical(path, ms, bad)
    assert not path.parent.exists()


def test_loading_into_another_model_is_refused(tmp_path, b0):
    ms, w = b0
    path = tmp_path / "b0.safetensors"
    save_canonical(path, ms, w)
    with pytest.raises(WeightsError, match="model efficientnetv2-b1.*missing"):
        load_canonical(path, spec.resolve("efficientnetv2-b1"))


def test_not_a_canonical_file(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        read_canonical(junk)


def test_failed_write_leaves_nothing_behind(tmp_path, b0, monkeypatch):
    ms, w = b0
    from effnet.weights_convert import canonical_io as cio

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(cio, "save_file", broken_save)
    path = tmp_path / "b0.safetensors"
    with pytest.raises(OSError, match="disk full"):
        save_canonical(path, ms, w)
    assert list(tmp_path.iterdir()) == []
