"""``effnet train --backend torch`` against damaged checkpoints and a diverging run (issue 19), on the
tiny architecture (``tests/training/tiny_runs.py``): one line, exit status 2, nothing lost."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from effnet.training import checkpoint
from effnet.training.loop import RunConfig
from tests.training import loop_checks
from tests.training.tiny_runs import (
    MODEL,
    assert_one_line_error,
    effnet,
    snapshot,
    train_argv,
    write_data,
    write_spec,
)

EPOCHS = 3


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile-torch")
    return write_spec(root), write_data(root / "data")


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, files) -> Path:
    """A 3-epoch torch run stopped after its 2nd epoch."""
    spec_file, data = files
    cfg = RunConfig(
        backend="torch",
        model=MODEL,
        data=data,
        out=tmp_path_factory.mktemp("stopped-torch") / "run",
        epochs=EPOCHS,
        batch_size=8,
        progress=False,
        workers=0,
        spec_file=spec_file,
    )
    loop_checks._run_epochs(cfg, 2)
    return cfg.out


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


def _native(out: Path) -> Path:
    return out / "checkpoints" / "epoch-0001" / "native" / "torch_state.pt"


class _RunsCode:
    def __reduce__(self) -> tuple:
        return (exec, ("open('PWNED', 'w').write('ran')",))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "truncated torch_state.pt": _truncate,
    "empty torch_state.pt": lambda p: p.write_bytes(b""),
    "a folder instead": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_native_checkpoint_is_one_line(capsys, tmp_path, files, stopped_run, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    out = _copy(stopped_run, tmp_path)
    DAMAGE[name](_native(out))
    before = snapshot(out)
    code, _, err = effnet(capsys, train_argv(*files, out, "--resume", epochs=EPOCHS))
    assert_one_line_error(code, err, "epoch-0001/native: cannot load the checkpoint")
    assert snapshot(out) == before and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_a_checkpoint_that_would_run_code_is_refused(capsys, tmp_path, files, stopped_run, monkeypatch, how):
    import torch

    monkeypatch.chdir(tmp_path)
    out = _copy(stopped_run, tmp_path)
    if how == "pickle":
        _native(out).write_bytes(pickle.dumps({"model": _RunsCode()}))
    else:
        torch.save({"model": _RunsCode()}, _native(out))
    before = snapshot(out)
    code, _, err = effnet(capsys, train_argv(*files, out, "--resume", epochs=EPOCHS))
    assert_one_line_error(code, err, "torch_state.pt: refused", "could run code")
    assert snapshot(out) == before and not (tmp_path / "PWNED").exists()


def test_resume_after_a_kill_during_a_checkpoint_write(capsys, tmp_path, files, stopped_run):
    out = _copy(stopped_run, tmp_path)
    root = out / "checkpoints"
    partial = root / ".epoch-0002.x7q"
    shutil.copytree(root / "epoch-0001", partial)
    _truncate(partial / "native" / "torch_state.pt")  # killed halfway through torch.save
    code, stdout, err = effnet(capsys, train_argv(*files, out, "--resume", epochs=EPOCHS))
    assert code == 0, err
    assert "removed 1 partial checkpoint" in stdout and "resumed from" in stdout
    assert not partial.exists() and checkpoint.latest(root).name == "epoch-0002"


def test_a_diverging_run_stops_at_once_keeping_its_last_good_checkpoint(capsys, tmp_path, files):
    out = tmp_path / "run"
    code, _, err = effnet(capsys, train_argv(*files, out, "--lr-per-256", "1e30", epochs=EPOCHS))
    line = assert_one_line_error(code, err, "the training loss is", "stopped", "--lr-per-256")
    records = (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []
    done = [p.name for p in checkpoint.epoch_dirs(out / "checkpoints")]
    assert done == [f"epoch-{e:04d}" for e in range(len(records))], "one checkpoint per finished epoch"
    assert all(json.loads(r)["train_loss"] == json.loads(r)["train_loss"] for r in records)  # none NaN
    if done:
        assert checkpoint.latest(out / "checkpoints").name == done[-1] and done[-1] in line


def test_devices_is_not_a_torch_option(capsys, tmp_path, files):
    code, _, err = effnet(capsys, train_argv(*files, tmp_path / "run", "--devices", "2"))
    assert_one_line_error(code, err, "--devices 2", "torchrun --nproc-per-node 2")
    assert not (tmp_path / "run").exists()
