"""The job store: every job in one SQLite file, shared by the window and `trm-lab jobs` at the same time.

WAL mode plus a busy timeout lets one writer and many readers work concurrently; every call opens its own short
connection, so a store is safe to use from any thread. Updates name their columns, so two processes following the
same job never overwrite each other's fields wholesale.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import fields
from pathlib import Path

from engine.home import lab_home
from trainers.jobs.errors import JobError
from trainers.jobs.model import Job

_JSON_FIELDS = {"hosts", "args", "last_metrics", "checkpoints", "mirror_base"}
_BOOL_FIELDS = {"reachable"}
_COLUMNS = [f.name for f in fields(Job) if f.name != "id"]
_SQL_TYPES = {int: "INTEGER", float: "REAL", str: "TEXT", bool: "INTEGER"}


def _column_sql(name: str) -> str:
    if name in _JSON_FIELDS:
        return f"{name} TEXT NOT NULL DEFAULT ''"
    default = Job(name="", source="")
    value = getattr(default, name)
    sql_type = _SQL_TYPES[type(value)]
    literal = repr(value) if not isinstance(value, str) else "''"
    if isinstance(value, bool):
        literal = str(int(value))
    return f"{name} {sql_type} NOT NULL DEFAULT {literal}"


class JobStore:
    """Jobs persisted in `<home>/jobs.sqlite3`."""

    def __init__(self, path: str | os.PathLike | None = None, *, timeout_s: float = 10.0) -> None:
        self.path = Path(path) if path is not None else lab_home() / "jobs.sqlite3"
        self.timeout_s = timeout_s
        self.notice = ""  # what was done to a damaged store, for the person (the CLI prints it, the window shows it)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            problem = self._damage()
            if problem:
                self.notice = self._set_aside(problem)
            try:
                self._create()
            except sqlite3.DatabaseError as exc:  # pages damaged behind a valid header
                if self.notice or isinstance(exc, sqlite3.OperationalError):
                    raise
                self.notice = self._set_aside(str(exc))
                self._create()
        except (sqlite3.Error, OSError) as exc:
            raise JobError(f"{self.path}: cannot open the job store: {exc}") from exc

    def _create(self) -> None:
        with closing(self._connect()) as con, con:
            con.execute("PRAGMA journal_mode=WAL")
            cols = ", ".join(_column_sql(c) for c in _COLUMNS)
            con.execute(f"CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
            have = {row[1] for row in con.execute("PRAGMA table_info(jobs)")}
            for col in _COLUMNS:  # a newer version added a field: grow the table in place
                if col not in have:
                    con.execute(f"ALTER TABLE jobs ADD COLUMN {_column_sql(col)}")

    def _damage(self) -> str:
        """Why the existing store file cannot be a job store ("" if it can, or does not exist yet)."""
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(16)
        except FileNotFoundError:
            return ""
        if not head:
            return "it is empty (0 bytes)"
        return "" if head == b"SQLite format 3\0" else "it is not an SQLite database"

    def _set_aside(self, problem: str) -> str:
        """Move a damaged store (and its WAL files) aside, never deleting it; say what was done and how to recover."""
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            if src.exists():
                os.replace(src, aside.with_name(aside.name + suffix))
        return (f"{self.path}: the job store was damaged ({problem}); set aside as {aside.name} and started afresh. "
                f"Jobs it listed are not shown, their folders in {self.path.parent / 'jobs'} are kept and new jobs "
                f"get new ids; to recover, put a backup of the store in its place")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.timeout_s)
        con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
        con.row_factory = sqlite3.Row
        return con

    @staticmethod
    def _encode(name: str, value):
        if name in _JSON_FIELDS:
            return json.dumps(value)
        if name in _BOOL_FIELDS:
            return int(bool(value))
        return value

    @staticmethod
    def _decode(row: sqlite3.Row) -> Job:
        data = {}
        for key in row.keys():
            value = row[key]
            if key in _JSON_FIELDS:
                value = json.loads(value) if value else ([] if key != "last_metrics" else {})
            elif key in _BOOL_FIELDS:
                value = bool(value)
            data[key] = value
        return Job(**{k: v for k, v in data.items() if k == "id" or k in _COLUMNS})

    def _run(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        try:
            with closing(self._connect()) as con, con:
                cur = con.execute(sql, params)
                return cur.fetchall() if cur.description else [cur.lastrowid]  # type: ignore[list-item]
        except sqlite3.Error as exc:
            raise JobError(f"{self.path}: job store error: {exc}") from exc

    def add(self, job: Job) -> Job:
        """Insert a new job; returns it with its id (and `created` set). Ids never repeat, even after the store was
        reset or restored from an older copy: a new id is past every id the store gave and every `jobs/<id>` folder."""
        job.created = job.created or time.time()
        job.updated = job.updated or job.created
        cols = ", ".join(_COLUMNS)
        marks = ", ".join("?" for _ in _COLUMNS)
        try:
            with closing(self._connect()) as con, con:
                con.execute("BEGIN IMMEDIATE")  # two processes adding at once get different ids
                given = con.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'jobs'"
                                    ).fetchone()[0]
                job.id = max(given, self._highest_folder_id()) + 1
                con.execute(f"INSERT INTO jobs (id, {cols}) VALUES (?, {marks})",
                            (job.id, *(self._encode(c, getattr(job, c)) for c in _COLUMNS)))
        except sqlite3.Error as exc:
            raise JobError(f"{self.path}: job store error: {exc}") from exc
        return job

    def _highest_folder_id(self) -> int:
        try:
            return max((int(p.name) for p in (self.path.parent / "jobs").iterdir() if p.name.isdigit()), default=0)
        except OSError:
            return 0

    def get(self, job_id: int) -> Job:
        rows = self._run("SELECT * FROM jobs WHERE id = ?", (int(job_id),))
        if not rows:
            raise JobError(f"{self.path}: no job with id {job_id}")
        return self._decode(rows[0])

    def find(self, ref: str | int) -> Job:
        """A job by id ("3") or by name (the newest one with that name)."""
        text = str(ref)
        if text.isdigit():
            return self.get(int(text))
        rows = self._run("SELECT * FROM jobs WHERE name = ? ORDER BY id DESC LIMIT 1", (text,))
        if not rows:
            raise JobError(f"{self.path}: no job named {text!r} (see `trm-lab jobs list`)")
        return self._decode(rows[0])

    def list(self) -> list[Job]:
        return [self._decode(r) for r in self._run("SELECT * FROM jobs ORDER BY id")]

    def update(self, job_id: int, **values) -> None:
        """Set only the named fields (others may be changing in another process)."""
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise JobError(f"{self.path}: unknown job fields {sorted(unknown)}")
        values.setdefault("updated", time.time())
        sets = ", ".join(f"{k} = ?" for k in values)
        self._run(f"UPDATE jobs SET {sets} WHERE id = ?",
                  tuple(self._encode(k, v) for k, v in values.items()) + (int(job_id),))

    def delete(self, job_id: int) -> None:
        self._run("DELETE FROM jobs WHERE id = ?", (int(job_id),))
