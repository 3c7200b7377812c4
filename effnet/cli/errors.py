"""One line for every error the user, not the code, can fix: ``describe(err)`` is what ``effnet``
prints after ``effnet: error:``. Operating-system errors (permissions, a folder where a file belongs,
a full disk, ...) name the path and say what went wrong in words, without ``[Errno N]``."""

from __future__ import annotations

import errno

# errno -> what it means for the file named
REASONS: dict[int, str] = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENOSPC: "no space left on the device (nothing was written)",
    errno.EDQUOT: "disk quota exceeded (nothing was written)",
    errno.EFBIG: "file too large for the file system or the process's file-size limit (nothing was written)",
    errno.EROFS: "read-only file system",
    errno.ELOOP: "too many levels of symbolic links (a link that points to itself?)",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
    errno.EXDEV: "cannot move across file systems",
}


def describe_os_error(err: OSError) -> str:
    """``PermissionError(13, ..., "out/x")`` -> ``"out/x: permission denied"``."""
    reason = REASONS.get(err.errno or -1) or (err.strerror or "").lower() or type(err).__name__
    if err.filename is None:  # raised with a message of its own, e.g. FileNotFoundError("no such ...")
        return str(err) if err.errno is None else reason
    where = str(err.filename)
    if err.filename2 is not None:
        where += f" -> {err.filename2}"
    return f"{where}: {reason}"


def describe(err: BaseException) -> str:
    """The one-line message for a user error (an OSError or one of effnet's own)."""
    text = describe_os_error(err) if isinstance(err, OSError) else str(err)
    return " ".join(text.split()) or type(err).__name__


class UsageError(Exception):
    """Bad input that argparse cannot see (a value that names nothing known)."""
