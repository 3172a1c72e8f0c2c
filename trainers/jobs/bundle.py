"""The code we ship to an SSH host: the `engine` and `trainers` packages as one tar.gz, named by a content hash."""

from __future__ import annotations

import hashlib
import io
import tarfile
from functools import lru_cache
from pathlib import Path

PACKAGES = ("engine", "trainers")
ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> list[Path]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                out.append(path)
    return out


@lru_cache(maxsize=4)
def code_bundle(root: Path = ROOT) -> tuple[str, bytes]:
    """(hash, tar.gz bytes) of engine/ and trainers/; the same code always gives the same hash."""
    digest = hashlib.sha256()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path in _files(root):
            rel = path.relative_to(root).as_posix()
            data = path.read_bytes()
            digest.update(rel.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return digest.hexdigest()[:16], buf.getvalue()
