"""Write files atomically: the bytes go to a hidden temporary file beside the target
(``.{name}.{8 hex}.tmp``, mode from the umask), which is then renamed over it. A failure at any point
leaves no partial file behind and the previous file, if any, as it was.

The destination is checked first (``check_target``): its folder must exist (it is never created), and
neither it nor an existing file there may be read-only. A process killed mid-write cannot clean up;
its temporary file is removed by the next write to that folder once it is ``STALE_SECONDS`` old.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

STALE_SECONDS = 600  # a write takes seconds; an older temporary file is a killed writer's
WEIGHT_SUFFIXES = (
    ".safetensors",
    ".pt",
    ".pth",
    ".bin",
    ".h5",
    ".hdf5",
    ".onnx",
    ".pt2",
    ".tflite",
    ".stablehlo",
)
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")


def check_target(target: str | os.PathLike[str]) -> Path:
    """Refuse a destination that cannot be written, before any work: an OSError naming it."""
    target = Path(target)
    folder = target.parent
    if not folder.exists():
        raise FileNotFoundError(f"{target}: the folder {folder} does not exist (create it first)")
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if target.exists() and not os.access(target, os.W_OK):
        raise PermissionError(f"{target}: the file exists and is read-only; it was left as it is")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
    return target


def sweep_stale(folder: str | os.PathLike[str], *, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove temporary files that killed writes of weight files left in ``folder``; return them."""
    removed, now = [], time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = _TEMPORARY.match(entry.name)
            if not match or not match["target"].endswith(WEIGHT_SUFFIXES):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and now - entry.stat().st_mtime > older_than:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _temporary(target: Path) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target``, on error it is removed."""
    target = check_target(target)
    sweep_stale(target.parent)
    tmp = _temporary(target)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno is None:
            raise
        # the same error, naming the destination rather than the hidden temporary file
        raise type(err)(err.errno, err.strerror, str(target)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (see the module docstring)."""
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder to fill (``.{name}.{8 hex}.tmp``, beside ``target``); on success it
    becomes ``target``, on error it is removed. An existing ``target`` folder is replaced only when it
    holds ``REPLACEABLE`` (a SavedModel written before); any other existing folder or file is refused."""
    import shutil

    target = Path(target)
    folder = target.parent
    if not folder.exists():
        raise FileNotFoundError(f"{target}: the folder {folder} does not exist (create it first)")
    if target.exists() and not (target.is_dir() and (target / REPLACEABLE).is_file()):
        raise FileExistsError(
            f"{target}: already exists and is not a SavedModel folder; it was left as it is"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
    tmp = _temporary(target)
    old = _temporary(target)
    try:
        tmp.mkdir()
        yield tmp
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


REPLACEABLE = "saved_model.pb"
