import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.atomic import atomic_copy, atomic_path, atomic_write_bytes, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def test_new_files_get_the_usual_mode_not_mkstemps_private_one(tmp_path):
    mask = os.umask(0o022)
    try:
        target = tmp_path / "out.txt"
        atomic_write_text(target, "hello")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        atomic_copy(target, tmp_path / "copy.txt")
        assert stat.S_IMODE((tmp_path / "copy.txt").stat().st_mode) == 0o644
    finally:
        os.umask(mask)


def test_existing_mode_is_kept_and_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    target.chmod(0o600)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]  # no temp file left behind
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o600


# ---- targets that are not regular files: write through, never replace them -------------------------------------------
def _generate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trm_lab.cli", "generate", "sudoku", "--count", "2", "--size", "4",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_dev_full_reports_the_error_and_stays_a_device():
    res = _generate("-o", "/dev/full")
    assert res.returncode != 0
    assert "/dev/full" in res.stderr and "No space left" in res.stderr and "Traceback" not in res.stderr
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_dev_null_is_written_to_and_stays_a_device():
    res = _generate("-o", "/dev/null")
    assert res.returncode == 0, res.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    atomic_write_text(fifo, "through the pipe\n")
    reader.join(10)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temp file left


def test_a_symlink_is_followed_to_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    res = _generate("-o", str(link))
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("source,question,answer,rating")
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "real" / "new.txt")
    atomic_write_bytes(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "real" / "new.txt").read_bytes() == b"made"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["new.txt", "out.csv"]
