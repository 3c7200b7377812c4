"""Hostile and careless checkpoints and destinations for ``effnet convert`` (issue 19): every bad
input is exit status 2 and one line ``effnet: error: ...`` naming the file (and the tensor), never a
traceback, no new file in the output folder, nothing already there lost. Named cases first, then
hypothesis-generated corruptions."""

import errno
import os
import pickle
import resource
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from effnet import impl_torch
from effnet.cli.main import main
from effnet.weights_convert import atomic, canonical_io
from effnet.weights_convert.canonical_io import read_canonical

MODEL = "efficientnet-b0"
KEPT = b"an earlier file that must survive"


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    """impl_torch's own state dict (the ``torch`` format)."""
    return {k: v.clone() for k, v in impl_torch.build(MODEL).state_dict().items()}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "kept.safetensors").write_bytes(KEPT)
    return folder


def convert(capsys, src: Path, dst: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["convert", str(src), str(dst), "--model", MODEL, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(result: tuple[int, str, str], folder: Path, *named: str) -> str:
    """Exit 2, one line naming ``named``, no traceback, and ``folder`` as the fixture left it."""
    code, out, err = result
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("effnet: error: "), err
    assert "Traceback" not in err and out == ""
    for what in named:
        assert what in lines[0], (what, lines[0])
    assert sorted(p.name for p in folder.iterdir()) == ["kept.safetensors"]
    assert (folder / "kept.safetensors").read_bytes() == KEPT
    return lines[0]


def saved(tmp_path: Path, state: dict[str, torch.Tensor], name: str = "src.pth", **changes) -> Path:
    path = tmp_path / name
    torch.save({**state, **changes}, path)
    return path


def with_value(tensor: torch.Tensor, value: float) -> torch.Tensor:
    out = tensor.clone()
    out.view(-1)[1] = value
    return out


# --- tensors ------------------------------------------------------------------------------------

BAD_TENSORS = {
    "nan": lambda t: with_value(t, float("nan")),
    "inf": lambda t: with_value(t, float("inf")),
    "-inf": lambda t: with_value(t, -float("inf")),
    "complex": lambda t: t.to(torch.complex64),
    "int32": lambda t: t.to(torch.int32),
    "bool": lambda t: t > 0,
    "sparse": lambda t: t.to_sparse(),
}
WHY = {
    "nan": "NaN",
    "inf": "infinite",
    "-inf": "infinite",
    "complex": "complex",
    "int32": "int32 integers",
    "bool": "bool integers",
    "sparse": "sparse",
}


@pytest.mark.parametrize("kind", list(BAD_TENSORS))
@pytest.mark.parametrize("name", ["stem.conv.weight", "blocks.3.dw.bn.running_var"])
def test_bad_tensors_are_refused_by_name(tmp_path, out, capsys, state, kind, name):
    src = saved(tmp_path, state, **{name: BAD_TENSORS[kind](state[name])})
    result = convert(capsys, src, out / "b0.safetensors")
    assert_refused(result, out, str(src), repr(name), WHY[kind])


def test_nan_in_a_safetensors_file(tmp_path, out, capsys, state):
    src = tmp_path / "src.safetensors"
    arrays = {k: v.numpy() for k, v in state.items()}
    arrays["head.conv.weight"] = with_value(state["head.conv.weight"], float("nan")).numpy()
    save_file(arrays, str(src))
    assert_refused(convert(capsys, src, out / "b0.pth", "--to", "torch"), out, str(src), "'head.conv.weight'")


def test_check_never_prints_nan(tmp_path, out, capsys, state):
    src = saved(tmp_path, state, **{"head.conv.weight": with_value(state["head.conv.weight"], float("nan"))})
    result = convert(capsys, src, out / "b0.safetensors", "--check")
    assert "nan" not in result[1].lower()
    assert_refused(result, out, "'head.conv.weight'")


def test_check_refuses_outputs_that_overflow(tmp_path, capsys, state):
    """Finite weights whose outputs overflow float32: the check says so instead of printing nan."""
    src = saved(tmp_path, state, **{"stem.conv.weight": state["stem.conv.weight"] * 1e38})
    code, stdout, err = convert(capsys, src, tmp_path / "b0.safetensors", "--check")
    assert code == 2 and "nan" not in stdout.lower().replace("nan;", "")
    assert err.count("\n") == 1 and err.startswith("effnet: error: check:") and "not finite" in err


def test_half_precision_is_read_exactly(tmp_path, out, capsys, state):
    for dtype in (torch.bfloat16, torch.float16):
        src = saved(tmp_path, {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()})
        dst = out / f"{dtype}.safetensors".replace("torch.", "")
        code, _, err = convert(capsys, src, dst)
        assert code == 0, err
        got = read_canonical(dst).weights["stem.conv.kernel"]
        want = state["stem.conv.weight"].to(dtype).float().permute(2, 3, 1, 0).numpy()
        assert np.array_equal(got, want)


def test_bf16_safetensors_is_read_exactly(tmp_path, out, capsys, state):
    from safetensors.torch import save_file as save_torch

    src = tmp_path / "src.safetensors"
    save_torch({k: v.bfloat16() if v.is_floating_point() else v for k, v in state.items()}, str(src))
    code, _, err = convert(capsys, src, out / "b0.safetensors")
    assert code == 0, err


# --- files that are not checkpoints -------------------------------------------------------------


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "the file is empty"),
        (b"\x00\x01 not a checkpoint", "not a readable torch checkpoint"),
        (b"PK\x03\x04" + b"\x00" * 100, "not a readable torch checkpoint"),
    ],
    ids=["empty", "garbage", "broken-zip"],
)
def test_not_checkpoints(tmp_path, out, capsys, content, why):
    src = tmp_path / "src.pth"
    src.write_bytes(content)
    assert_refused(convert(capsys, src, out / "b0.safetensors", "--from", "torch"), out, str(src), why)


def test_truncated_checkpoint(tmp_path, out, capsys, state):
    src = saved(tmp_path, state)
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    assert_refused(convert(capsys, src, out / "b0.safetensors"), out, str(src))


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_says_why(tmp_path, out, capsys):
    marker = tmp_path / "ran"
    src = tmp_path / "evil.pth"
    src.write_bytes(pickle.dumps({"stem.conv.weight": RunsCode(marker)}, protocol=2))
    line = assert_refused(convert(capsys, src, out / "b0.safetensors"), out, str(src), "refused")
    assert "call Python code" in line and "GLOBAL" in line.upper()
    assert not marker.exists()


# --- canonical metadata -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canonical(tmp_path_factory, state) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    path = tmp_path_factory.mktemp("canonical") / "b0.safetensors"
    torch.save(state, path.with_suffix(".pth"))
    assert main(["convert", str(path.with_suffix(".pth")), str(path), "--model", MODEL]) == 0
    f = read_canonical(path)
    return f.weights, f.metadata


@pytest.mark.parametrize(
    "change, named",
    [
        ({"model": "efficientnet-b1"}, "efficientnet-b1"),
        ({"model": "efficientnetv2-s"}, "efficientnetv2-s"),
        ({"spec_hash": "0" * 64}, "spec_hash"),
        ({"spec_hash": "0" * 64, "spec_version": "0.0.1"}, "spec 0.0.1"),
        ({"profile": "nope"}, "profile 'nope'"),
    ],
)
def test_canonical_metadata_that_contradicts_the_model(tmp_path, out, capsys, canonical, change, named):
    weights, metadata = canonical
    src = tmp_path / "c.safetensors"
    save_file(weights, str(src), metadata={**metadata, **change})
    assert_refused(convert(capsys, src, out / "b0.pth", "--to", "torch"), out, str(src), named)


def test_canonical_metadata_that_agrees_is_accepted(tmp_path, out, capsys, canonical):
    weights, metadata = canonical
    src = tmp_path / "c.safetensors"
    save_file(weights, str(src), metadata=metadata)
    assert convert(capsys, src, out / "b0.pth", "--to", "torch")[0] == 0


# --- destinations -------------------------------------------------------------------------------


def test_destination_is_a_folder(tmp_path, out, capsys, state):
    (out / "b0.safetensors").mkdir()
    src = saved(tmp_path, state)
    code, stdout, err = convert(capsys, src, out / "b0.safetensors")
    assert code == 2 and err == f"effnet: error: {out / 'b0.safetensors'}: is a folder, not a file\n"
    assert sorted(p.name for p in out.iterdir()) == ["b0.safetensors", "kept.safetensors"]
    assert not any((out / "b0.safetensors").iterdir())


def test_missing_destination_folder_is_refused_not_created(tmp_path, out, capsys, state):
    dst = out / "new" / "b0.safetensors"
    assert_refused(convert(capsys, saved(tmp_path, state), dst), out, str(dst.parent), "does not exist")


def test_destination_inside_a_file(tmp_path, out, capsys, state):
    (tmp_path / "plain").write_bytes(b"x")
    dst = tmp_path / "plain" / "b0.safetensors"
    assert_refused(convert(capsys, saved(tmp_path, state), dst), out, str(dst))


def _no_write_access(monkeypatch, denied: Path) -> None:
    """As root, permissions are not enforced: deny ``denied`` the way os.access would."""
    real = os.access
    monkeypatch.setattr(atomic.os, "access", lambda p, mode: Path(p) != denied and real(p, mode))


def test_read_only_destination_file_is_left_alone(tmp_path, out, capsys, state, monkeypatch):
    dst = out / "kept.safetensors"
    _no_write_access(monkeypatch, dst)
    assert_refused(convert(capsys, saved(tmp_path, state), dst), out, str(dst), "read-only")


def test_unwritable_destination_folder(tmp_path, out, capsys, state, monkeypatch):
    _no_write_access(monkeypatch, out)
    line = assert_refused(convert(capsys, saved(tmp_path, state), out / "b0.safetensors"), out, str(out))
    assert line.endswith("permission denied")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EIO])
def test_a_failed_write_keeps_the_old_file(tmp_path, out, capsys, state, monkeypatch, code):
    """The disk fills up halfway: one line naming the destination; the earlier file is intact."""

    def half_written(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half")
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(canonical_io, "save_file", half_written)
    dst = out / "kept.safetensors"
    line = assert_refused(convert(capsys, saved(tmp_path, state), dst), out, str(dst))
    assert "Errno" not in line and line.lower().count(str(dst).lower()) == 1


def _file_size_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_a_real_file_size_limit(tmp_path, out, state):
    """torch.save's own writer failed with an inline_container RuntimeError; now one line."""
    src = saved(tmp_path, state)
    run = subprocess.run(
        [sys.executable, "-m", "effnet", "convert", str(src), str(out / "b0.pth"), "--model", MODEL]
        + ["--to", "torch"],
        capture_output=True,
        text=True,
        env={**os.environ, "EFFNET_MALLOC": "default"},
        preexec_fn=_file_size_limit,
        timeout=300,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith(f"effnet: error: {out / 'b0.pth'}: file too large")
    assert run.stderr.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["kept.safetensors"]


# --- what is written, and what is cleaned ---------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_written_files_follow_the_umask(tmp_path, out, capsys, state, umask, mode):
    old = os.umask(umask)
    try:
        assert convert(capsys, saved(tmp_path, state), out / "b0.pth", "--to", "torch")[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((out / "b0.pth").stat().st_mode) == mode


def test_stale_temporaries_are_swept_on_the_next_write(tmp_path, out, capsys, state):
    old = time.time() - 2 * atomic.STALE_SECONDS
    stale = [out / ".b0.safetensors.k3j_9x2a.tmp", out / ".other.pth.abcd1234.tmp"]
    fresh = out / ".b0.safetensors.zzzz0000.tmp"  # another writer, now
    unrelated = [out / ".notes.txt.abcd1234.tmp", out / "b0.safetensors.abcd1234.tmp"]
    for path in (*stale, fresh, *unrelated):
        path.write_bytes(b"partial")
    for path in (*stale, *unrelated):
        os.utime(path, (old, old))
    assert convert(capsys, saved(tmp_path, state), out / "b0.safetensors")[0] == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"kept.safetensors", "b0.safetensors", fresh.name, *(p.name for p in unrelated)}


# --- hypothesis: corruptions --------------------------------------------------------------------


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_tensor_values(capsys, state, data):
    with tempfile.TemporaryDirectory() as folder:  # one B0 per example: removed at once, not at exit
        check_corrupted_tensor_values(Path(folder), capsys, state, data)


def check_corrupted_tensor_values(tmp: Path, capsys, state, data) -> None:
    out = tmp / "out"
    out.mkdir()
    (out / "kept.safetensors").write_bytes(KEPT)
    name = data.draw(st.sampled_from(sorted(k for k, v in state.items() if v.numel() > 1)))
    kind = data.draw(st.sampled_from(sorted(BAD_TENSORS)))
    src = saved(tmp, state, **{name: BAD_TENSORS[kind](state[name].float())})
    assert_refused(convert(capsys, src, out / "b0.safetensors"), out, str(src), repr(name))


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, state) -> bytes:
    path = tmp_path_factory.mktemp("small") / "b0.pth"
    torch.save(state, path)
    return path.read_bytes()


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_bytes(capsys, small_file, data):
    """Truncations and overwritten bytes (in the zip's headers, where the structure lives): accepted
    (the damage hit weight values that stay finite) or refused in one line, never a traceback."""
    with tempfile.TemporaryDirectory() as folder:
        check_corrupted_bytes(Path(folder), capsys, small_file, data)


def check_corrupted_bytes(tmp: Path, capsys, small_file, data) -> None:
    out = tmp / "out"
    out.mkdir()
    (out / "kept.safetensors").write_bytes(KEPT)
    blob = bytearray(small_file)
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        region = data.draw(st.sampled_from([(0, 4096), (len(blob) - 4096, len(blob))]))
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(*region).filter(lambda i: i < len(blob)))] = data.draw(
                st.integers(0, 255)
            )
    src = tmp / "src.pth"
    src.write_bytes(bytes(blob))
    code, stdout, err = convert(capsys, src, out / "b0.safetensors", "--from", "torch")
    if code == 0:
        assert err == "" and "wrote" in stdout
    else:
        assert_refused((code, stdout, err), out, str(src))
