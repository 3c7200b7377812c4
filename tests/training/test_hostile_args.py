"""``effnet train`` against careless and hostile input (issue 19, "Training" and "Resume"), without a
framework: a numpy engine (``tiny_runs.FakeEngine``) stands in for the backend, so the argument
checks, the resume decision, the finite-loss guard, retention and image skipping all run in the
``spec`` session. Every bad input: exit status 2, one line ``effnet: error: ...`` naming the thing at
fault, no traceback, nothing in ``--out`` created, changed or lost."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from effnet.cli import argtypes as arg_types
from effnet.spec import Preprocessing
from effnet.training import checkpoint
from effnet.training.dataset import Sample, scan
from effnet.training.errors import DataError, ResumeError
from effnet.training.pipeline import Pipeline

from .tiny_runs import (
    assert_one_line_error,
    effnet,
    snapshot,
    train_argv,
    use_fake_engine,
    write_data,
    write_spec,
)

# ---------------------------------------------------------------- arguments


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile")
    return write_spec(root), write_data(root / "data")


BAD_ARGUMENTS = [
    (["--epochs", "0"], "--epochs"),  # was: the recipe's 350 epochs
    (["--epochs", "-3"], "--epochs"),
    (["--epochs", "two"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--workers", "-1"], "--workers"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--devices", "0"], "--devices"),
    (["--lr-per-256", "0"], "--lr-per-256"),  # was: the recipe's value
    (["--lr-per-256", "nan"], "--lr-per-256"),
    (["--lr-per-256", "inf"], "--lr-per-256"),
    (["--lr-per-256", "-0.01"], "--lr-per-256"),
    (["--keep-checkpoints", "0"], "--keep-checkpoints"),
]


@pytest.mark.parametrize("extra, option", BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_one_line(capsys, tmp_path, files, extra, option):
    out = tmp_path / "run"
    code, _, err = effnet(capsys, train_argv(*files, out, *extra))
    assert_one_line_error(code, err, f"argument {option}", repr(extra[-1]))
    assert not out.exists()


def test_out_an_existing_file_or_below_one(capsys, tmp_path, files):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me\n")
    for out in (precious, precious / "run"):
        code, _, err = effnet(capsys, train_argv(*files, out))
        assert_one_line_error(code, err, "argument --out", str(precious))
    assert precious.read_text() == "keep me\n" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_out_that_cannot_be_created(capsys, tmp_path, files, monkeypatch):
    use_fake_engine(monkeypatch)
    out = Path("/proc/effnet-hostile-test/run")  # not creatable, even as root
    code, _, err = effnet(capsys, train_argv(*files, out))
    assert_one_line_error(code, err, f"--out {out}", "cannot write there")


@settings(max_examples=30)
@given(st.integers(max_value=0))
def test_counts_below_one_are_refused(n):
    with pytest.raises(Exception, match="must be an integer >= 1"):
        arg_types.positive_int(str(n))
    assert arg_types.positive_int(str(1 - n)) == 1 - n


@settings(max_examples=30)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_learning_rates_must_be_finite_and_positive(x):
    if math.isfinite(x) and x > 0:
        assert arg_types.positive_float(repr(x)) == x
    else:
        with pytest.raises(Exception, match="must be a finite number > 0"):
            arg_types.positive_float(repr(x))


# ---------------------------------------------------------------- the finite-loss guard


def test_a_non_finite_loss_stops_the_run_keeping_the_last_good_checkpoint(
    capsys, tmp_path, files, monkeypatch
):
    use_fake_engine(monkeypatch, loss_at=lambda step: 1.0 if step <= 2 else math.nan)  # 2 steps per epoch
    out = tmp_path / "run"
    code, _, err = effnet(capsys, train_argv(*files, out, epochs=3))
    assert_one_line_error(code, err, "loss is nan at epoch 2, step 1", "epoch-0000")
    assert checkpoint.latest(out / "checkpoints").name == "epoch-0000"
    assert [p.name for p in checkpoint.epoch_dirs(out / "checkpoints")] == ["epoch-0000"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


# ---------------------------------------------------------------- retention


def _epochs(root: Path, n: int) -> None:
    for e in range(n):
        (root / f"epoch-{e:04d}").mkdir(parents=True)
        (root / f"epoch-{e:04d}" / "state.json").write_text("{}")


def test_prune_keeps_the_last_n_the_latest_and_the_best(tmp_path):
    root = tmp_path / "checkpoints"
    _epochs(root, 10)
    checkpoint.point(root, checkpoint.LATEST, "epoch-0009")
    checkpoint.point(root, checkpoint.BEST, "epoch-0002")
    removed = checkpoint.prune(root, keep=3)
    assert [p.name for p in checkpoint.epoch_dirs(root)] == [
        "epoch-0002",
        "epoch-0007",
        "epoch-0008",
        "epoch-0009",
    ]
    assert len(removed) == 6
    with pytest.raises(ValueError, match="keep"):
        checkpoint.prune(root, keep=0)


def test_best_epoch_is_the_first_highest_finite_accuracy():
    history = [{"epoch": e, "val_accuracy": a} for e, a in enumerate([0.2, 0.5, math.nan, 0.5, 0.1])]
    assert checkpoint.best_epoch(history) == 1
    assert checkpoint.best_epoch([]) is None


def test_a_run_keeps_the_last_n_and_the_best(capsys, tmp_path, files, monkeypatch):
    use_fake_engine(monkeypatch)  # validation accuracy 0.25 every epoch: the best is the first
    out = tmp_path / "run"
    code, stdout, err = effnet(capsys, train_argv(*files, out, "--keep-checkpoints", "2", epochs=5))
    assert code == 0, err
    root = out / "checkpoints"
    assert [p.name for p in checkpoint.epoch_dirs(root)] == ["epoch-0000", "epoch-0003", "epoch-0004"]
    assert checkpoint.pointed(root, checkpoint.BEST).name == "epoch-0000"
    assert checkpoint.latest(root).name == "epoch-0004"


# ---------------------------------------------------------------- resume


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, files) -> Path:
    """A 4-epoch run stopped after its 2nd epoch (checkpoints epoch-0000, epoch-0001; latest -> 0001)."""
    mp = pytest.MonkeyPatch()
    use_fake_engine(mp)
    out = tmp_path_factory.mktemp("stopped") / "run"
    from effnet.cli.main import main

    assert main(train_argv(*files, out, epochs=2)) == 0
    mp.undo()
    state = json.loads((out / "checkpoints" / "epoch-0001" / "state.json").read_text())
    state["epochs"] = 4  # as if --epochs 4 had been given: the run is half done
    (out / "checkpoints" / "epoch-0001" / "state.json").write_text(json.dumps(state))
    (out / "summary.json").unlink()
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out, symlinks=True)
    return out


def _state_path(out: Path) -> Path:
    return out / "checkpoints" / "epoch-0001" / "state.json"


def _edit_state(out: Path, **changes: object) -> None:
    state = json.loads(_state_path(out).read_text())
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    _state_path(out).write_text(json.dumps(state))


def _escape(out: Path) -> None:
    elsewhere = out.parent / "elsewhere"
    shutil.copytree(out / "checkpoints" / "epoch-0001", elsewhere)
    (out / "checkpoints" / "latest").write_text("../../elsewhere\n")


def _symlinked_epoch(out: Path) -> None:
    elsewhere = out.parent / "elsewhere"
    shutil.copytree(out / "checkpoints" / "epoch-0001", elsewhere)
    (out / "checkpoints" / "epoch-0002").symlink_to(elsewhere)
    (out / "checkpoints" / "latest").write_text("epoch-0002\n")


RESUME_CASES = {
    # name: (change to the stopped run, extra arguments, resume?, fragments of the one line)
    "latest missing": (lambda o: (o / "checkpoints" / "latest").unlink(), [], True, ["latest is missing"]),
    "latest dangling": (
        lambda o: (o / "checkpoints" / "latest").write_text("epoch-0009\n"),
        [],
        True,
        ["names epoch-0009", "not a complete checkpoint"],
    ),
    "latest ../../elsewhere": (_escape, [], True, ["'../../elsewhere'", "inside"]),
    "latest an absolute path": (
        lambda o: (o / "checkpoints" / "latest").write_text(str(o / "checkpoints" / "epoch-0001")),
        [],
        True,
        ["not a checkpoint folder epoch-NNNN inside"],
    ),
    "latest binary": (
        lambda o: (o / "checkpoints" / "latest").write_bytes(b"\xff\xfe\x00"),
        [],
        True,
        ["latest"],
    ),
    "epoch folder a link out": (_symlinked_epoch, [], True, ["epoch-0002", "inside"]),
    "a run, no --resume": (lambda o: None, [], False, ["already holds a run", "--resume", "another --out"]),
    "only metrics, no --resume": (
        lambda o: shutil.rmtree(o / "checkpoints"),
        [],
        False,
        ["already holds a run (metrics.jsonl)"],
    ),
    "other --schedule": (
        lambda o: None,
        ["--schedule", "code"],
        True,
        ["--schedule 'paper' (this run: 'code')"],
    ),
    "other --batch-size": (lambda o: None, ["--batch-size", "4"], True, ["--batch-size 8 (this run: 4)"]),
    "other --model": (
        lambda o: None,
        ["--model", "tiny-other"],
        True,
        ["--model 'tiny-net' (this run: 'tiny-other')"],
    ),
    "other --backend": (lambda o: None, ["--backend", "jax"], True, ["--backend 'torch' (this run: 'jax')"]),
    "other --seed": (lambda o: None, ["--seed", "3"], True, ["--seed 0 (this run: 3)"]),
    "other --epochs": (lambda o: None, ["--epochs", "5"], True, ["--epochs 4 (this run: 5)"]),
    "other --lr-per-256": (
        lambda o: None,
        ["--lr-per-256", "0.008"],
        True,
        ["--lr-per-256 0.016 (this run: 0.008)"],
    ),
    "empty state.json": (lambda o: _state_path(o).write_text(""), [], True, ["state.json", "not a readable"]),
    "garbage state.json": (lambda o: _state_path(o).write_bytes(b"\x00{nope"), [], True, ["state.json"]),
    "state.json a list": (lambda o: _state_path(o).write_text("[1, 2]"), [], True, ["a JSON list"]),
    "state.json NaN": (lambda o: _state_path(o).write_text('{"epoch": NaN}'), [], True, ["NaN is not JSON"]),
    "state.json no history": (lambda o: _edit_state(o, history=None), [], True, ["'history' is missing"]),
    "state.json epoch -1": (lambda o: _edit_state(o, epoch=-1), [], True, ["'epoch' must be an integer"]),
    "state.json short history": (lambda o: _edit_state(o, epoch=5), [], True, ["'history' has 2 record(s)"]),
    "native state damaged": (
        lambda o: (o / "checkpoints" / "epoch-0001" / "native" / "fake_state.json").write_text("{"),
        [],
        True,
        ["epoch-0001/native: cannot load the checkpoint"],
    ),
}


@pytest.mark.parametrize("name", list(RESUME_CASES))
def test_resume_refusals_are_one_line_and_touch_nothing(
    capsys, tmp_path, files, stopped_run, monkeypatch, name
):
    change, extra, resume, fragments = RESUME_CASES[name]
    use_fake_engine(monkeypatch)
    out = _copy(stopped_run, tmp_path)
    change(out)
    before = snapshot(out)
    argv = train_argv(*files, out, *(["--resume"] if resume else []), epochs=4)
    argv = _override(argv, extra)
    code, _, err = effnet(capsys, argv)
    assert_one_line_error(code, err, *fragments)
    assert snapshot(out) == before, "a refused run must leave --out as it was"


def _override(argv: list[str], extra: list[str]) -> list[str]:
    argv = list(argv)
    for option, value in zip(extra[::2], extra[1::2], strict=True):
        if option in argv:
            argv[argv.index(option) + 1] = value
        else:
            argv += [option, value]
    return argv


def test_resume_removes_partial_checkpoints_first_and_finishes(
    capsys, tmp_path, files, stopped_run, monkeypatch
):
    use_fake_engine(monkeypatch)
    out = _copy(stopped_run, tmp_path)
    root = out / "checkpoints"
    shutil.copytree(root / "epoch-0001", root / ".epoch-0002.k9x_1")  # a kill -9 during a checkpoint write
    (root / ".latest.tmp").write_text("epoch-0002\n")
    (out / ".metrics.jsonl.tmp").write_text("{")
    code, stdout, err = effnet(capsys, train_argv(*files, out, "--resume", epochs=4))
    assert code == 0, err
    assert "removed 2 partial checkpoint" in stdout and "resumed from" in stdout
    assert not list(root.glob(".*")) and not (out / ".metrics.jsonl.tmp").exists()
    assert checkpoint.latest(root).name == "epoch-0003"
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [
        0,
        1,
        2,
        3,
    ]


def test_resume_of_an_empty_out_starts_from_scratch(capsys, tmp_path, files, monkeypatch):
    use_fake_engine(monkeypatch)
    code, stdout, err = effnet(capsys, train_argv(*files, tmp_path / "new", "--resume"))
    assert code == 0 and "starting from scratch" in stdout, err


VALID_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def corrupted_states(draw: st.DrawFn, valid: dict) -> bytes:
    """A valid state.json with one field replaced or removed (top level or in a history record), or
    arbitrary JSON, or arbitrary bytes."""
    kind = draw(st.sampled_from(["top", "record", "json", "bytes"]))
    state = json.loads(json.dumps(valid))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "json":
        return json.dumps(draw(VALID_JSON)).encode()
    target = state if kind == "top" else draw(st.sampled_from(state["history"]))
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(VALID_JSON)
    return json.dumps(state).encode()


def test_corrupted_state_json_is_one_line_or_resumes(
    capsys, tmp_path_factory, files, stopped_run, monkeypatch
):
    """Hypothesis: whatever a damaged state.json holds, --resume either refuses in one line (leaving
    --out as it was) or resumes and finishes; never a traceback."""
    use_fake_engine(monkeypatch)
    valid = json.loads(_state_path(stopped_run).read_text())

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25)
    @given(corrupted_states(valid))
    def check(raw: bytes) -> None:
        with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as tmp:
            out = _copy(stopped_run, Path(tmp))
            _state_path(out).write_bytes(raw)
            before = snapshot(out)
            code, _, err = effnet(capsys, train_argv(*files, out, "--resume", epochs=4))
            if code == 0:
                assert checkpoint.latest(out / "checkpoints").name == "epoch-0003"
            else:
                assert_one_line_error(code, err)
                assert snapshot(out) == before

    check()


@settings(max_examples=60)
@given(st.text(max_size=40))
def test_pointers_name_only_epoch_folders_inside(text):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "checkpoints"
        root.mkdir()
        (root / "latest").write_text(text)
        try:
            target = checkpoint.pointed(root)
        except ResumeError as err:
            assert "\n" not in str(err)
        else:
            assert target.parent == root and target.name.startswith("epoch-")


# ---------------------------------------------------------------- unreadable images


def _corrupt_jpeg() -> bytes:
    """A JPEG whose markers are intact (SOI, SOS, EOI in its last KiB) but whose entropy-coded data
    is scribbled over: Pillow's verify() and the end-of-image check pass, decoding fails."""
    buf = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "JPEG")
    raw = bytearray(buf.getvalue())
    for i in range(raw.index(b"\xff\xda") + 20, len(raw) - 2, 3):
        if raw[i + 1] != 0xD9:
            raw[i] = 0xFF
    return bytes(raw)


@pytest.fixture
def hostile_data(tmp_path) -> Path:
    data = write_data(tmp_path / "data")
    (data / "train" / "a" / "loop.jpg").symlink_to("loop.jpg")  # a self-looping symlink
    (data / "train" / "b" / "zz-corrupt.jpg").write_bytes(_corrupt_jpeg())
    return data


def test_scan_skips_a_symlink_loop_but_not_a_corrupt_jpeg_with_intact_markers(hostile_data):
    data = scan(hostile_data)
    assert [Path(p).name for p, _ in data.skipped] == ["loop.jpg"]
    assert "zz-corrupt.jpg" in {Path(s.path).name for s in data.train}  # only decoding finds it


@pytest.mark.parametrize("workers", [0, 2])
def test_an_undecodable_image_is_replaced_and_counted(hostile_data, workers):
    train = scan(hostile_data).train
    bad = next(i for i, s in enumerate(train) if s.path.endswith("zz-corrupt.jpg"))
    pipe = Pipeline(
        train,
        num_classes=4,
        image_size=16,
        batch_size=len(train),
        preprocessing=Preprocessing(scale=(1.0,) * 3, offset=(0.0,) * 3),
        train=False,
        workers=workers,
    )
    (batch,) = list(pipe)
    assert list(pipe.undecodable) == [train[bad].path]
    assert "cannot decode" not in pipe.undecodable[train[bad].path]  # the decoder's own reason
    assert batch.labels[bad] == train[bad + 1].label  # the next sample stands in, image and label
    np.testing.assert_array_equal(batch.x[bad], batch.x[bad + 1])


def test_a_run_over_unreadable_images_skips_and_counts_them(
    capsys, tmp_path, files, hostile_data, monkeypatch
):
    use_fake_engine(monkeypatch)
    out = tmp_path / "run"
    code, stdout, err = effnet(capsys, train_argv(files[0], hostile_data, out))
    assert code == 0, err
    assert "skipped 1 unreadable image(s)" in stdout and "could not be decoded" in stdout
    assert json.loads((out / "summary.json").read_text())["skipped_images"] == 2
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["undecodable_images"] for r in records] == [1, 1]


def test_a_sample_list_of_only_undecodable_images_is_an_error(tmp_path):
    paths = [tmp_path / f"bad{i}.jpg" for i in range(3)]
    for p in paths:
        p.write_bytes(_corrupt_jpeg())
    pipe = Pipeline(
        [Sample(str(p), 0) for p in paths],
        num_classes=1,
        image_size=8,
        batch_size=1,
        preprocessing=Preprocessing(scale=(1.0,) * 3, offset=(0.0,) * 3),
        train=True,
        workers=0,
    )
    with pytest.raises(DataError, match=r"bad\d\.jpg: cannot decode.*2 following sample"):
        list(pipe)


# ---------------------------------------------------------------- execution (precision, layout, compile)

BAD_EXECUTION = [
    (["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["--precision", "float32"], "argument --precision: invalid choice: 'float32'"),
    (["--memory-format", "nhwc"], "argument --memory-format: invalid choice: 'nhwc'"),
    (["--compile", "yes"], "unrecognized arguments: yes"),
]


@pytest.mark.parametrize("extra, words", BAD_EXECUTION, ids=[" ".join(a) for a, _ in BAD_EXECUTION])
def test_bad_execution_values_are_one_line(capsys, tmp_path, files, extra, words):
    out = tmp_path / "run"
    code, _, err = effnet(capsys, train_argv(*files, out, *extra))
    assert_one_line_error(code, err, words)
    assert not out.exists()


WRONG_BACKEND = [
    ("jax", ["--memory-format", "channels_last"], "--memory-format is for --backend torch only"),
    ("tf", ["--memory-format", "contiguous"], "--memory-format is for --backend torch only"),
    ("jax", ["--compile"], "--compile is for --backend torch only"),
    ("tf", ["--no-compile"], "--compile is for --backend torch only"),
    ("jax", ["--xla"], "--xla is for --backend tf only"),
    ("torch", ["--no-xla"], "--xla is for --backend tf only"),
]


@pytest.mark.parametrize(
    "backend, extra, words", WRONG_BACKEND, ids=[f"{b} {' '.join(a)}" for b, a, _ in WRONG_BACKEND]
)
def test_an_option_of_another_backend_is_refused(capsys, tmp_path, files, backend, extra, words):
    out = tmp_path / "run"
    argv = train_argv(*files, out, *extra)
    argv[argv.index("--backend") + 1] = backend
    code, _, err = effnet(capsys, argv)
    assert_one_line_error(code, err, words)
    assert not out.exists()


def test_help_describes_the_execution_options(capsys):
    code, out, _ = effnet(capsys, ["train", "--help"])
    assert code == 0
    for option in (
        "--precision {fp32,bf16,fp16}",
        "--memory-format",
        "--compile, --no-compile",
        "--xla, --no-xla",
    ):
        assert option in out, option
    assert "loss scaling" in out


def test_execution_is_recorded_and_may_change_on_resume(capsys, tmp_path, files, monkeypatch):
    from effnet.execution import Execution

    from .tiny_runs import FakeEngine

    use_fake_engine(monkeypatch)
    out = tmp_path / "run"
    monkeypatch.setattr(FakeEngine, "execution", Execution(precision="bf16"))
    code, stdout, err = effnet(capsys, train_argv(*files, out))
    assert code == 0, err
    state = json.loads((checkpoint.latest(out / "checkpoints") / "state.json").read_text())
    assert state["execution"] == {"precision": "bf16"}
    assert [r["execution"] for r in state["history"]] == [{"precision": "bf16"}] * 2
    monkeypatch.setattr(FakeEngine, "execution", Execution(precision="fp32"))
    code, stdout, err = effnet(capsys, train_argv(*files, out, "--resume"))
    assert code == 0, err
    assert "resumed with another execution: precision bf16 -> fp32" in stdout
