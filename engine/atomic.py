"""Atomic file writes: a temp file beside the target, fsync, then `os.replace`.

A reader (the window, a job monitor, `tail` over SSH) never sees half a file, and a crash mid-write leaves the old
file intact. mkstemp creates private files, so the temp file gets the target's mode (or the usual umask mode).

A symlink is followed: its target is replaced, the link stays. Anything that is not a regular file (/dev/null,
/dev/full, a FIFO, a terminal) is written through instead of replaced, so `-o /dev/full` reports "no space left"
and `-o /dev/stdout` prints.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _is_special(path: Path) -> bool:
    """True for an existing target that is not a regular file or a folder (devices, FIFOs, sockets)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `path` (a special file is written through instead), on
    any error it is removed."""
    path = Path(os.path.realpath(path))  # a symlink (even a dangling one) means its target
    special = _is_special(path)
    if not special:
        path.parent.mkdir(parents=True, exist_ok=True)
    folder = tempfile.gettempdir() if special else path.parent  # never create files in /dev
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        if special:
            yield tmp_path
            with open(tmp_path, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
                dst.flush()
            tmp_path.unlink()
            return
        os.chmod(tmp_path, _mode_for(path))
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
