"""How a run decides where to start, before it writes anything (strict resume).

- Without ``--resume``: ``--out`` must not hold a run (a checkpoint, ``checkpoints/latest``,
  ``metrics.jsonl`` or ``summary.json``); if it does, the run is refused: its checkpoints are never
  overwritten without being asked.
- With ``--resume``: an ``--out`` holding no run starts from scratch. Otherwise ``checkpoints/latest``
  must name a complete checkpoint ``epoch-NNNN`` inside ``checkpoints/`` (missing, dangling, or
  pointing anywhere else is refused), its ``state.json`` must be well formed
  (``checkpoint.load_state``), and it must have been written with the same settings as this run
  (:func:`check_compatible`: model, spec, backend, ``--schedule``, ``--batch-size``, ``--seed``,
  ``--epochs``, ``--lr-per-256``, ``--init``). The execution (``--precision``, ``--memory-format``,
  ``--compile``, ``--xla``) is recorded but may change: the saved state is float32 whatever the
  precision (:func:`execution_change` says what changed; see ``effnet.execution``).

Every refusal is a :class:`ResumeError` naming the file or the option at fault and what to do.
Once the run may start, :func:`prepare_out` creates ``--out`` (checking it is writable) and deletes
what a run killed while writing a checkpoint left behind, and :func:`load_native` loads the
backend's state, refusing a damaged file in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import checkpoint
from .engine import Engine
from .errors import ResumeError, TrainError, one_line

CHECKPOINTS = "checkpoints"
RUN_FILES = ("metrics.jsonl", "summary.json")

# state.json key -> what the user sets it with (the spec's own fields name no option)
OPTION_OF = {
    "model": "--model",
    "spec_version": "spec version",
    "spec_hash": "spec hash",
    "backend": "--backend",
    "rule": "--schedule",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "epochs": "--epochs",
    "lr_per_256": "--lr-per-256",
    "init": "--init",
}
# recorded by every version of the trainer; the others are checked when the checkpoint records them
ALWAYS = ("model", "spec_version", "spec_hash", "backend")


def run_marks(out: Path) -> list[str]:
    """What shows that ``out`` already holds a run (paths relative to ``out``), oldest checkpoint first."""
    root = out / CHECKPOINTS
    marks = [f"{CHECKPOINTS}/{p.name}" for p in checkpoint.epoch_dirs(root)]
    pointer = root / checkpoint.LATEST
    if pointer.exists() or pointer.is_symlink():
        marks.append(f"{CHECKPOINTS}/{checkpoint.LATEST}")
    return marks + [name for name in RUN_FILES if (out / name).exists()]


def start_from(out: Path, resume: bool) -> Path | None:
    """The checkpoint directory to resume from, or ``None`` to start a new run in ``out``.

    Raises :class:`ResumeError` when a new run would overwrite an existing one, or when the run to
    resume has no trustworthy ``latest`` checkpoint."""
    if out.exists() and not out.is_dir():
        raise ResumeError(f"--out {out}: exists and is not a folder")
    marks = run_marks(out)
    if not resume:
        if marks:
            shown = ", ".join(marks[-3:])
            raise ResumeError(
                f"--out {out} already holds a run ({shown}): pass --resume to continue it, "
                "or choose another --out for a new run"
            )
        return None
    if not marks:
        return None
    root = out / CHECKPOINTS
    target = checkpoint.pointed(root, checkpoint.LATEST)
    found = checkpoint.epoch_dirs(root)
    keep = f"; {len(found)} checkpoint(s) there are kept" if found else ""
    advice = "write the name of a complete one (e.g. epoch-NNNN) into it, or choose another --out"
    if target is None:
        raise ResumeError(
            f"{root / checkpoint.LATEST} is missing, so --resume cannot tell where {out} stopped{keep}: "
            f"{advice}"
        )
    if not (target / "state.json").is_file():
        raise ResumeError(
            f"{root / checkpoint.LATEST} names {target.name}, which is not a complete checkpoint "
            f"(no state.json){keep}: {advice}"
        )
    return target


def check_compatible(state: dict[str, Any], expected: dict[str, Any], where: Path) -> None:
    """Refuse to resume a checkpoint written with other settings; ``expected`` maps state keys to
    this run's values. The spec's version and hash are compared only when the model is the same."""
    problems = []
    for key, ours in expected.items():
        if key not in state and key not in ALWAYS:
            continue  # an older checkpoint that did not record it
        if key in ("spec_version", "spec_hash") and state.get("model") != expected.get("model"):
            continue
        theirs = state.get(key)
        if theirs != ours:
            problems.append(f"{OPTION_OF.get(key, key)} {theirs!r} (this run: {ours!r})")
    if problems:
        raise ResumeError(
            f"cannot resume {where}: it was written with {', '.join(problems)}; resume with the same "
            "settings, or choose another --out for a new run"
        )


def execution_change(state: dict[str, Any], ours: dict[str, Any]) -> str:
    """What differs between the checkpoint's recorded execution and this run's ("" if nothing, or
    if the checkpoint recorded none)."""
    theirs = state.get("execution")
    if not isinstance(theirs, dict):
        return ""
    changes = [f"{k} {theirs.get(k)} -> {v}" for k, v in ours.items() if k in theirs and theirs[k] != v]
    return ", ".join(changes)


def prepare_out(out: Path) -> None:
    """Create ``out`` and check that files can be written there; remove what a killed run left."""
    probe = out / ".effnet-write-check"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise TrainError(f"--out {out}: cannot write there ({err.strerror or err})") from None
    removed = checkpoint.remove_partial(out / CHECKPOINTS)
    stale = out / ".metrics.jsonl.tmp"
    if stale.exists():
        stale.unlink()
    if removed:
        print(f"removed {len(removed)} partial checkpoint file(s) of an interrupted run, e.g. {removed[0]}")


def load_native(engine: Engine, last: Path) -> None:
    """Load the backend's state of checkpoint ``last``; a file it cannot load is a :class:`ResumeError`."""
    try:
        engine.load(last / "native")
    except ResumeError:
        raise
    except Exception as err:  # each framework words a damaged file its own way
        raise ResumeError(f"{last / 'native'}: cannot load the checkpoint ({one_line(err)})") from None
