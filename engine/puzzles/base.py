"""What every puzzle kind shares: the one error readers raise, the token-encoding record, and safe file I/O.

Readers never let anything but `PuzzleError` escape, so the window and the CLI can show the message to a person
without a traceback. The message names the file and the place (line/row/column) so the person can fix the input.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.atomic import atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported for puzzle modules)

MAX_FILE_BYTES = 256 * 1024 * 1024  # refuse anything larger than this: no puzzle corpus we read comes close
MAX_GRID = 30  # the reference models' largest canvas (ARC and Maze-Hard)


class PuzzleError(ValueError):
    """Bad puzzle input. `str()` reads `"puzzles.csv, line 3, column 12: expected 81 cells, found 80"`."""

    def __init__(self, message: str, *, source: str | os.PathLike | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.message = message
        self.source = None if source is None else str(source)
        self.line = line
        self.column = column
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.source is not None:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass(frozen=True)
class Encoding:
    """How a puzzle kind becomes a token sequence; stored as a checkpoint's `puzzle` metadata (docs/INTERFACES.md)."""

    kind: str
    rows: int
    cols: int
    vocab_size: int
    seq_len: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Encoding:
        if not isinstance(data, dict):
            raise PuzzleError(f"puzzle encoding must be a JSON object, got {type(data).__name__}")
        try:
            enc = cls(kind=str(data["kind"]), rows=int(data["rows"]), cols=int(data["cols"]),
                      vocab_size=int(data["vocab_size"]), seq_len=int(data["seq_len"]))
        except KeyError as exc:
            raise PuzzleError(f"puzzle encoding lacks the field {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise PuzzleError(f"puzzle encoding has a non-integer size: {exc}") from None
        from engine.puzzles.kind import get_kind  # the registry imports the kind modules, which import this one

        get_kind(enc.kind)  # an unknown kind is a PuzzleError naming the known ones
        if enc.rows < 1 or enc.cols < 1 or enc.vocab_size < 1 or enc.seq_len != enc.rows * enc.cols:
            raise PuzzleError(f"inconsistent puzzle encoding {enc.to_dict()}")
        return enc


def read_text(path: str | os.PathLike) -> str:
    """Read a UTF-8 text file, turning every I/O or decoding problem into a `PuzzleError` naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PuzzleError(f"file is {size} bytes, more than the {MAX_FILE_BYTES} this reader accepts",
                              source=path)
        data = path.read_bytes()
    except PuzzleError:
        raise
    except FileNotFoundError:
        raise PuzzleError("no such file", source=path) from None
    except IsADirectoryError:
        raise PuzzleError("is a folder, expected a file", source=path) from None
    except OSError as exc:
        raise PuzzleError(f"cannot read: {exc.strerror or exc}", source=path) from None
    return decode_text(data, source=path)


def decode_text(data: bytes, *, source: str | os.PathLike | None = None) -> str:
    """Decode UTF-8 (BOM tolerated); a bad byte is reported with its line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PuzzleError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", source=source, line=line,
                          column=column) from None


def looks_like_csv(text: str) -> bool:
    """True when the first non-blank line is a header naming a `question` column (the sudoku-extreme layout)."""
    head = text.lstrip()[:1000]  # a header is short; never split a huge first line
    first = head.splitlines()[0] if head else ""
    return "question" in [c.strip().lower() for c in first.split(",")]


@dataclass
class CsvRecord:
    line: int
    source: str | None
    question: str
    answer: str | None
    rating: float | None
    question_column: int
    answer_column: int | None


@dataclass(kw_only=True)
class Provenance:
    """Where a file's puzzle came from and how hard it is (the reference CSV's `source` and `rating` columns); the
    kinds' records (engine.puzzles.sudoku.Sudoku, maze.Maze) add their grids before these."""

    source: str | None = None
    rating: float | None = None


def csv_puzzles(text: str, source: str | os.PathLike | None, read: Callable[[CsvRecord], tuple], make: type) -> list:
    """Every row of a reference CSV as `make(question, answer, source=, rating=)`; `read` parses one row's question
    and answer and checks them by the kind's rules."""
    return [make(*read(rec), source=rec.source or (None if source is None else str(source)), rating=rec.rating)
            for rec in iter_csv(text, source=source)]


def iter_csv(text: str, *, source: str | os.PathLike | None = None) -> Iterator[CsvRecord]:
    """Rows of a `source,question,answer,rating` CSV (header required; answer/rating/source optional)."""
    csv.field_size_limit(MAX_FILE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = None
        for row in reader:
            if any(c.strip() for c in row):
                header = [c.strip().lower() for c in row]
                break
        if header is None:
            raise PuzzleError("empty CSV", source=source)
        if "question" not in header:
            raise PuzzleError("CSV header has no 'question' column", source=source, line=reader.line_num)
        qi = header.index("question")
        ai = header.index("answer") if "answer" in header else None
        ri = header.index("rating") if "rating" in header else None
        si = header.index("source") if "source" in header else None
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise PuzzleError(f"expected {len(header)} fields ({','.join(header)}), found {len(row)}",
                                  source=source, line=line)
            rating = None
            if ri is not None and row[ri].strip():
                try:
                    rating = float(row[ri])
                except ValueError:
                    raise PuzzleError(f"rating {row[ri][:20]!r} is not a number", source=source, line=line,
                                      column=ri + 1) from None
            yield CsvRecord(line=line, source=row[si] if si is not None else None, question=row[qi],
                            answer=(row[ai] if ai is not None and row[ai] != "" else None), rating=rating,
                            question_column=qi + 1, answer_column=None if ai is None else ai + 1)
    except csv.Error as exc:
        raise PuzzleError(f"malformed CSV: {exc}", source=source, line=reader.line_num) from None


def write_csv(rows: list[tuple[str, str, str, str]]) -> str:
    """`source,question,answer,rating` CSV text with the header the reference datasets use."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["source", "question", "answer", "rating"])
    writer.writerows(rows)
    return buf.getvalue()


def map_jobs(job_fn, jobs: list, *, workers: int, progress=None, max_chunk: int = 16) -> list:
    """`[job_fn(j) for j in jobs]`, in a process pool when `workers` > 1 (see `iter_jobs`)."""
    return list(iter_jobs(job_fn, jobs, len(jobs), workers=workers, progress=progress, max_chunk=max_chunk))


def iter_jobs(job_fn, jobs, total: int, *, workers: int, progress=None, max_chunk: int = 16):
    """`job_fn(j)` for each of the `total` jobs, in order, as they finish: a pool of at most `total` processes when
    `workers` > 1, reporting `progress(done, total)`. `jobs` may be lazy, so a billion puzzles stream through
    without being listed first.

    forkserver/spawn, not fork: callers (the window's worker threads) may be multi-threaded. Results keep the jobs'
    order, so seeded generation gives the same output for any number of workers.
    """
    workers = min(workers, total)
    if workers <= 1:
        results = map(job_fn, jobs)
        pool = None
    else:
        import multiprocessing as mp

        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        pool = ctx.Pool(workers)
        results = pool.imap(job_fn, jobs, chunksize=max(1, min(max_chunk, total // (workers * 8))))
    try:
        for done, result in enumerate(results, 1):
            if progress:
                progress(done, total)
            yield result
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def seeds(seed: int, count: int):
    """`np.random.SeedSequence(seed).spawn(count)`, one at a time (a billion are never held at once)."""
    import numpy as np

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PuzzleError(f"the seed must be a whole number, 0 or more, got {seed!r}")
    return (np.random.SeedSequence(seed, spawn_key=(k,)) for k in range(count))
