"""The run directory (docs/formats.md): the only channel between a training process and whoever watches it.

    RUN/config.json, status.json, metrics.jsonl, checkpoints/step_<N>.safetensors + latest.json, train.log

The training process writes (atomic replace or append-only); the window, the job backends and people read with the
functions here, which tolerate a file being written at the same moment (a torn last metrics line is skipped).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path

from engine.atomic import atomic_write_text

STATES = ("queued", "running", "finished", "failed", "stopped")
LAUNCH_ENV = "TRM_LAB_LAUNCH"  # the job launcher's id for this start; copied into status.json as `launch`


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---- readers -------------------------------------------------------------------------------------------------------
def read_status(run: str | Path) -> dict | None:
    """status.json as a dict, or None if the run has not written one yet."""
    try:
        return json.loads((Path(run) / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_metrics(run: str | Path, since_line: int = 0) -> tuple[list[dict], int]:
    """Metric rows from line `since_line` on, and the line number to pass next time (only complete lines count).

    Read from the start, a resumed run has one row per step (`latest_timeline`); a follower reading on from a line
    sees a resume as a step that goes back (`rewinds`) and reads again from the start."""
    path = Path(run) / "metrics.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], since_line
    lines = data.split(b"\n")[:-1]  # the part after the last newline may be a line still being written
    rows = []
    for line in lines[since_line:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return (latest_timeline(rows) if since_line == 0 else rows), len(lines)


def _train_step(row: dict) -> int | None:
    step = row.get("step")
    return step if row.get("split") != "eval" and isinstance(step, int) else None


def latest_timeline(rows: list[dict]) -> list[dict]:
    """One row per step. The trainer appends; after a crash it resumes from its last checkpoint and logs the steps
    after it again, so a training step that goes back drops every earlier row (training or evaluation) from that
    step on: the rows of the run that continued win."""
    out: list[dict] = []
    top = None
    for row in rows:
        step = _train_step(row)
        if step is not None:
            if top is not None and step <= top:
                out = [r for r in out if not (isinstance(r.get("step"), int) and r["step"] >= step)]
            top = step
        out.append(row)
    return out


def rewinds(rows: list[dict], last_step: int) -> bool:
    """True when new rows go back to a step a follower has already shown (the run was resumed)."""
    return any(step is not None and step <= last_step for step in map(_train_step, rows))


def checkpoint_is_complete(path: str | Path) -> bool:
    """A safetensors file whose header parses and whose size matches the header's tensor extents."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            (n,) = struct.unpack("<Q", f.read(8))
            if n <= 0 or 8 + n > size:
                return False
            header = json.loads(f.read(n))
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError):
        return False
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    return size == 8 + n + end


def latest_checkpoint(run: str | Path) -> Path | None:
    """The newest complete checkpoint: the one latest.json names if it is intact, else the newest intact step_N."""
    ckdir = Path(run) / "checkpoints"
    try:
        named = json.loads((ckdir / "latest.json").read_text())
        path = ckdir / named["file"]
        if checkpoint_is_complete(path):
            return path
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        pass
    for path in sorted(ckdir.glob("step_*.safetensors"), key=_step_of, reverse=True):
        if checkpoint_is_complete(path):
            return path
    return None


def _step_of(path: Path) -> int:
    try:
        return int(path.stem.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


# ---- writer (used only by the training process, rank 0) -------------------------------------------------------------
class RunWriter:
    """Writes a run directory the way readers expect: atomic replaces for JSON, appends for metrics and the log."""

    def __init__(self, run: str | Path):
        self.run = Path(run)
        (self.run / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.status: dict = read_status(self.run) or {}
        for orphan in (self.run / "checkpoints").glob(".*.tmp"):  # half-written by a trainer killed mid-write;
            orphan.unlink(missing_ok=True)  # one writer per run, so none of these is still being written

    def write_config(self, config_json: str) -> None:
        atomic_write_text(self.run / "config.json", config_json + "\n")

    def set_status(self, state: str, **fields) -> None:
        assert state in STATES, state
        if state == "running" and self.status.get("state") != "running":
            fields.setdefault("started", _now())
        self.status.update(fields, state=state, pid=os.getpid(), host=socket.gethostname(), updated=_now(),
                           launch=os.environ.get(LAUNCH_ENV, ""))
        self.status.setdefault("started", _now())
        self.status.setdefault("message", "")
        atomic_write_text(self.run / "status.json", json.dumps(self.status, indent=1) + "\n")

    def append_metrics(self, row: dict) -> None:
        with (self.run / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    def log(self, message: str) -> None:
        with (self.run / "train.log").open("a") as f:
            f.write(f"{_now()} {message}\n")

    def checkpoint_path(self, step: int) -> Path:
        return self.run / "checkpoints" / f"step_{step}.safetensors"

    def mark_latest(self, path: Path, step: int, keep: int | None = None) -> None:
        """Name a fully written checkpoint as the newest; prune older ones beyond `keep`."""
        ckdir = self.run / "checkpoints"
        atomic_write_text(ckdir / "latest.json", json.dumps({"file": path.name, "step": step, "time": _now()}) + "\n")
        if keep:
            old = sorted(ckdir.glob("step_*.safetensors"), key=_step_of)
            for p in old[:-keep]:
                if p != path:
                    p.unlink(missing_ok=True)
