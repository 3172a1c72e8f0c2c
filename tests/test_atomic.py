import os
import stat

import pytest

from engine.atomic import atomic_copy, atomic_path, atomic_write_text


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
