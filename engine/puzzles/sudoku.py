"""Sudoku (4x4 with 2x2 boxes, 6x6 with 2x3 boxes, 9x9 with 3x3): read, write, validate, solve, generate, encode.

Tokens follow the reference builder (`dataset/build_sudoku_dataset.py`): blank -> 1, digit d -> d + 1, PAD 0.
`solve` is exact (the search lives in `sudoku_solver.py`) and counts solutions up to a limit, which is what both
uniqueness checks and generation need.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.puzzles.base import (
    Encoding,
    Provenance,
    PuzzleError,
    atomic_write_text,
    csv_puzzles,
    iter_jobs,
    looks_like_csv,
    read_text,
    seeds,
    write_csv,
)
from engine.puzzles.kind import IDENTITY, Item, PuzzleKind, View, plural, register
from engine.puzzles.sudoku_solver import BOXES, search

SIZES_BY_CELLS = {n * n: n for n in BOXES}
DEFAULT_CLUES = {4: (6, 8), 6: (12, 18), 9: (30, 35)}
# Fewest givens the generator reliably reaches by random carving (true minima: 4, 8 and 17; puzzles that sparse are
# too rare to find this way).
MIN_CLUES = {4: 4, 6: 9, 9: 22}
BLANKS = ".0"
_SEPARATORS = set(" \t|+-=")


@dataclass
class Sudoku(Provenance):
    """One puzzle: `givens` (n x n int8, 0 = blank) and, when known, its `solution`."""

    givens: np.ndarray
    solution: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.givens.shape[0])

    @property
    def clue_count(self) -> int:
        return int(np.count_nonzero(self.givens))


@dataclass
class SolveResult:
    """`count` is the number of solutions found, capped at the `limit` given to `solve`."""

    count: int
    solution: np.ndarray | None = None
    branches: int = 0  # search nodes that had to guess: 0 = solved by singles alone; a difficulty measure

    @property
    def unique(self) -> bool:
        return self.count == 1


# ----------------------------------------------------------------------------------------------------------- parsing

def _size_of(cells: int, size: int | None, *, source, line, column=None) -> int:
    if size is not None:
        if size not in BOXES:
            raise PuzzleError(f"unsupported Sudoku size {size} (supported: 4, 6, 9)", source=source, line=line)
        if cells != size * size:
            raise PuzzleError(f"expected {size * size} cells, found {cells}", source=source, line=line,
                              column=column)
        return size
    if cells not in SIZES_BY_CELLS:
        raise PuzzleError(f"expected 81 cells (or 16 / 36 for 4x4 / 6x6), found {cells}", source=source,
                          line=line, column=column)
    return SIZES_BY_CELLS[cells]


def _cell_value(ch: str, n: int, *, source, line, column) -> int:
    if ch in BLANKS:
        return 0
    if "1" <= ch <= "9" and len(ch) == 1:
        d = ord(ch) - 48
        if d <= n:
            return d
        raise PuzzleError(f"digit {d} is too large for a {n}x{n} Sudoku", source=source, line=line, column=column)
    raise PuzzleError(f"unexpected character {ch!r} (expected a digit 1-{n}, '.' or '0' for a blank)",
                      source=source, line=line, column=column)


def _parse_line(text: str, *, source, line, size, col0: int = 1) -> np.ndarray:
    n = _size_of(len(text), size, source=source, line=line)
    values = [_cell_value(ch, n, source=source, line=line, column=col0 + i) for i, ch in enumerate(text)]
    return np.array(values, dtype=np.int8).reshape(n, n)


def _parse_grid(lines: list[tuple[int, str]], *, source, size) -> np.ndarray:
    """Rows of a multi-line grid; spaces, `|` and rule lines (`---+---`) are decoration."""
    rows: list[tuple[int, list[tuple[int, str]]]] = []
    for lineno, raw in lines:
        cells = [(i + 1, ch) for i, ch in enumerate(raw) if ch not in _SEPARATORS]
        if cells:
            rows.append((lineno, cells))
    if not rows:
        raise PuzzleError("no Sudoku grid found", source=source, line=lines[0][0] if lines else None)
    n = size if size is not None else len(rows)
    if n not in BOXES:
        raise PuzzleError(f"a grid of {len(rows)} rows is not a 4x4, 6x6 or 9x9 Sudoku", source=source,
                          line=rows[0][0])
    if len(rows) != n:
        raise PuzzleError(f"expected {n} rows, found {len(rows)}", source=source, line=rows[-1][0])
    grid = np.zeros((n, n), dtype=np.int8)
    for r, (lineno, cells) in enumerate(rows):
        if len(cells) != n:
            raise PuzzleError(f"row {r + 1} has {len(cells)} cells, expected {n}", source=source, line=lineno)
        for c, (col, ch) in enumerate(cells):
            grid[r, c] = _cell_value(ch, n, source=source, line=lineno, column=col)
    return grid


def _check_givens(grid: np.ndarray, *, source, line) -> None:
    bad = conflicts(grid)
    if bad.any():
        r, c = (int(x) for x in np.argwhere(bad)[0])
        d = int(grid[r, c])
        other = _clash_partner(grid, r, c)
        raise PuzzleError(f"givens clash: {d} at row {r + 1}, column {c + 1} repeats at row {other[0] + 1}, "
                          f"column {other[1] + 1}", source=source, line=line)


def _clash_partner(grid: np.ndarray, r: int, c: int) -> tuple[int, int]:
    n = grid.shape[0]
    br, bc = BOXES[n]
    d = grid[r, c]
    for rr in range(n):
        for cc in range(n):
            if (rr, cc) != (r, c) and grid[rr, cc] == d and (
                    rr == r or cc == c or (rr // br == r // br and cc // bc == c // bc)):
                return rr, cc
    return r, c


def parse(text: str, *, source: str | os.PathLike | None = None, line: int | None = None,
          size: int | None = None) -> Sudoku:
    """One puzzle from a single line of n*n cells or an n-line grid. Blanks are `.` or `0`."""
    if not isinstance(text, str):
        raise PuzzleError(f"expected text, got {type(text).__name__}", source=source, line=line)
    stripped = text.strip()
    if not stripped:
        raise PuzzleError("empty Sudoku", source=source, line=line)
    base_line = line if line is not None else 1
    if "\n" not in stripped:
        lead = len(text) - len(text.lstrip())
        givens = _parse_line(stripped, source=source, line=line, size=size, col0=lead + 1)
    else:
        numbered = [(base_line + i, raw) for i, raw in enumerate(text.split("\n"))]
        givens = _parse_grid([(ln, raw.rstrip("\r")) for ln, raw in numbered if raw.strip()], source=source,
                             size=size)
    _check_givens(givens, source=source, line=line)
    return Sudoku(givens=givens, source=None if source is None else str(source))


def _parse_answer(text: str, givens: np.ndarray, *, source, line, column) -> np.ndarray:
    n = givens.shape[0]
    if len(text) != n * n:
        raise PuzzleError(f"answer has {len(text)} cells, expected {n * n}", source=source, line=line,
                          column=column)
    answer = _parse_line(text, source=source, line=line, size=n)
    if not is_valid_solution(givens, answer):
        raise PuzzleError("answer is not a valid solution of the question", source=source, line=line,
                          column=column)
    return answer


def loads(text: str, *, source: str | os.PathLike | None = None, size: int | None = None) -> list[Sudoku]:
    """Puzzles from text: a sudoku-extreme CSV, a file of one-line puzzles, or grids separated by blank lines."""
    if looks_like_csv(text):
        def read(rec) -> tuple[np.ndarray, np.ndarray | None]:  # one CsvRecord
            givens = _parse_line(rec.question, source=source, line=rec.line, size=size)
            _check_givens(givens, source=source, line=rec.line)
            if rec.answer is None:
                return givens, None
            return givens, _parse_answer(rec.answer, givens, source=source, line=rec.line, column=rec.answer_column)

        return csv_puzzles(text, source, read, Sudoku)
    lines = [(i + 1, raw.rstrip("\r")) for i, raw in enumerate(text.split("\n"))]
    content = [(ln, raw) for ln, raw in lines if raw.strip() and not raw.lstrip().startswith("#")]
    if not content:
        raise PuzzleError("no Sudoku found", source=source)
    first_cells = sum(ch not in _SEPARATORS for ch in content[0][1][:64])
    if first_cells > max(BOXES):  # longer than any grid row: one puzzle per line
        return [parse(raw, source=source, line=ln, size=size) for ln, raw in content]
    # grids separated by blank lines
    out, block = [], []
    for ln, raw in lines + [(len(lines) + 1, "")]:
        if raw.strip() and not raw.lstrip().startswith("#"):
            block.append((ln, raw))
        elif block:
            grid = _parse_grid(block, source=source, size=size)
            _check_givens(grid, source=source, line=block[0][0])
            out.append(Sudoku(grid, source=None if source is None else str(source)))
            block = []
    return out


def load(path: str | os.PathLike, *, size: int | None = None) -> list[Sudoku]:
    """Every puzzle in a file (CSV with optional answers, one-line puzzles, or multi-line grids)."""
    return loads(read_text(path), source=path, size=size)


def to_line(grid: np.ndarray, blank: str = ".") -> str:
    """The n*n-character line form (`.` for blanks by default, as in sudoku-extreme's question column)."""
    return "".join(blank if v == 0 else str(int(v)) for v in np.asarray(grid).reshape(-1))


def to_text(grid: np.ndarray) -> str:
    """A readable multi-line grid with box separators (parses back with `parse`)."""
    grid = np.asarray(grid)
    n = grid.shape[0]
    br, bc = BOXES[n]
    rows = []
    for r in range(n):
        if r and r % br == 0:
            rows.append("-+-".join("-" * (2 * bc - 1) for _ in range(n // bc)))
        cells = [("." if v == 0 else str(int(v))) for v in grid[r]]
        rows.append(" | ".join(" ".join(cells[s:s + bc]) for s in range(0, n, bc)))
    return "\n".join(rows) + "\n"


def dumps(puzzles: list[Sudoku], *, csv: bool) -> str:
    if csv:
        rows = [(p.source or "", to_line(p.givens), "" if p.solution is None else to_line(p.solution),
                 "" if p.rating is None else f"{p.rating:g}") for p in puzzles]
        return write_csv(rows)
    return "".join(to_line(p.givens) + "\n" for p in puzzles)


def save(path: str | os.PathLike, puzzles: list[Sudoku]) -> None:
    """Write atomically: `.csv` -> `source,question,answer,rating`, anything else -> one line per puzzle."""
    atomic_write_text(path, dumps(puzzles, csv=Path(path).suffix.lower() == ".csv"))


# -------------------------------------------------------------------------------------------------------- validation

def conflicts(grid: np.ndarray) -> np.ndarray:
    """Boolean mask of filled cells whose digit repeats in their row, column or box."""
    grid = np.asarray(grid)
    n = grid.shape[0]
    br, bc = BOXES[n]
    out = np.zeros(grid.shape, dtype=bool)
    boxes = grid.reshape(n // br, br, n // bc, bc).transpose(0, 2, 1, 3).reshape(n, n)
    for d in range(1, n + 1):
        hit = grid == d
        row_dup = hit.sum(axis=1, keepdims=True) > 1
        col_dup = hit.sum(axis=0, keepdims=True) > 1
        box_dup = ((boxes == d).sum(axis=1) > 1).reshape(n // br, n // bc)
        box_mask = np.repeat(np.repeat(box_dup, br, axis=0), bc, axis=1)
        out |= hit & (row_dup | col_dup | box_mask)
    return out


def is_valid_solution(givens: np.ndarray, grid: np.ndarray) -> bool:
    """A complete grid with no clashes that keeps every given."""
    givens, grid = np.asarray(givens), np.asarray(grid)
    if grid.shape != givens.shape or grid.ndim != 2:
        return False
    n = grid.shape[0]
    if n not in BOXES or grid.min() < 1 or grid.max() > n:
        return False
    if np.any((givens != 0) & (givens != grid)):
        return False
    return not conflicts(grid).any()


# ------------------------------------------------------------------------------------------------------------ solver

def solve(grid: np.ndarray, limit: int = 2) -> SolveResult:
    """Exact solve: `count` = number of solutions up to `limit` (0 none, 1 unique, `limit` means at least that);
    `solution` is the first one found. Givens that clash give count 0."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or grid.shape[0] not in BOXES:
        raise PuzzleError(f"a Sudoku grid must be 4x4, 6x6 or 9x9, got shape {tuple(grid.shape)}")
    n = grid.shape[0]
    if grid.min() < 0 or grid.max() > n:
        raise PuzzleError(f"Sudoku cells must be 0-{n}")
    count, sol, branches = search([int(v) for v in grid.reshape(-1)], n, max(1, int(limit)))
    return SolveResult(count, None if sol is None else np.array(sol, dtype=np.int8).reshape(n, n), branches)


# ---------------------------------------------------------------------------------------------------- augmentation

@dataclass(frozen=True)
class SudokuTransform:
    """A validity-preserving relabelling: optional transpose, then row/column permutation, then digit map
    (the reference's `shuffle_sudoku` order). `digit_map[0] == 0` so blanks stay blank."""

    digit_map: np.ndarray
    row_perm: np.ndarray
    col_perm: np.ndarray
    transpose: bool = False

    def apply(self, grid: np.ndarray) -> np.ndarray:
        x = np.asarray(grid)
        if self.transpose:
            x = x.T
        x = x[self.row_perm][:, self.col_perm]
        return self.digit_map[x].astype(np.int8)

    def invert(self, grid: np.ndarray) -> np.ndarray:
        x = np.argsort(self.digit_map)[np.asarray(grid)]
        x = x[np.argsort(self.row_perm)][:, np.argsort(self.col_perm)]
        if self.transpose:
            x = x.T
        return np.ascontiguousarray(x).astype(np.int8)


def random_transform(rng: np.random.Generator, size: int = 9) -> SudokuTransform:
    """Digit permutation, band/stack and row-in-band / column-in-stack shuffles, and (square boxes only) a
    transpose: the symmetries of the reference's augmentation, restricted to those valid for `size`."""
    if size not in BOXES:
        raise PuzzleError(f"unsupported Sudoku size {size} (supported: 4, 6, 9)")
    br, bc = BOXES[size]
    digit_map = np.concatenate([[0], rng.permutation(np.arange(1, size + 1))]).astype(np.int64)
    transpose = bool(br == bc and rng.random() < 0.5)
    row_perm = np.concatenate([b * br + rng.permutation(br) for b in rng.permutation(size // br)])
    col_perm = np.concatenate([s * bc + rng.permutation(bc) for s in rng.permutation(size // bc)])
    return SudokuTransform(digit_map, row_perm, col_perm, transpose)


# -------------------------------------------------------------------------------------------------------- encoding

def encoding(size: int = 9) -> Encoding:
    """Vocab = PAD + blank + n digits (11 for 9x9, as in the reference)."""
    if size not in BOXES:
        raise PuzzleError(f"unsupported Sudoku size {size} (supported: 4, 6, 9)")
    return Encoding(kind="sudoku", rows=size, cols=size, vocab_size=size + 2, seq_len=size * size)


def encode(grid: np.ndarray) -> np.ndarray:
    """Flat int64 tokens: blank -> 1, digit d -> d + 1."""
    return np.asarray(grid, dtype=np.int64).reshape(-1) + 1


def decode(tokens: np.ndarray, size: int | None = None) -> np.ndarray:
    """Grid from tokens; PAD, blank and anything outside the digit range decode to 0 (blank)."""
    t = np.asarray(tokens, dtype=np.int64).reshape(-1)
    n = size if size is not None else SIZES_BY_CELLS.get(t.size)
    if n is None or t.size != n * n:
        raise PuzzleError(f"{t.size} tokens are not a 4x4, 6x6 or 9x9 Sudoku")
    d = t - 1
    d[(d < 1) | (d > n)] = 0
    return d.reshape(n, n).astype(np.int8)


# ------------------------------------------------------------------------------------------------------ generation

def _random_solution(rng: np.random.Generator, n: int) -> np.ndarray:
    values = [0] * (n * n)
    br, bc = BOXES[n]
    first_box = rng.permutation(np.arange(1, n + 1))
    for k, d in enumerate(first_box):
        values[(k // bc) * n + k % bc] = int(d)
    count, sol, _ = search(values, n, 1, digit_order=[int(d) for d in rng.permutation(np.arange(1, n + 1))])
    assert count == 1 and sol is not None  # a single filled box always extends to a full grid
    grid = np.array(sol, dtype=np.int8).reshape(n, n)
    return random_transform(rng, n).apply(grid)


def _carve(rng: np.random.Generator, solution: np.ndarray, target: int) -> np.ndarray:
    """Blank cells in random order while the solution stays unique, stopping at `target` givens."""
    n = solution.shape[0]
    values = [int(v) for v in solution.reshape(-1)]
    givens = n * n
    for i in rng.permutation(n * n):
        if givens <= target:
            break
        keep = values[i]
        values[i] = 0
        # still unique iff no solution puts another digit in cell i (the old solution is the only one with `keep`)
        if search(list(values), n, 1, forbid=(int(i), keep))[0] == 0:
            givens -= 1
        else:
            values[i] = keep
    return np.array(values, dtype=np.int8).reshape(n, n)


def rate(givens: np.ndarray) -> float:
    """Difficulty: the guesses (branch nodes) our search makes to solve the puzzle and prove its solution unique,
    after naked and hidden singles at every node (tdoku-style). 0 means singles alone solve it; about 3% of
    generated 22-27-given puzzles rate 8 or more; the famous hard puzzles in assets/puzzles rate 4-392."""
    givens = np.asarray(givens)
    return float(search([int(v) for v in givens.reshape(-1)], givens.shape[0], 2)[2])


RATED_TRIES = 5000  # a rating range can be rare (rating >= 8 is about 3% of 22-27-given puzzles)


def generate_one(seed: np.random.SeedSequence | int, clues: tuple[int, int], size: int = 9,
                 max_tries: int | None = None, rating: tuple[float, float] | None = None) -> Sudoku:
    """One puzzle with a unique solution, a clue count in `clues` and (if given) a `rate` in `rating` (both
    inclusive), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    lo, hi = clues
    tries = max_tries or (RATED_TRIES if rating else 200)
    for _ in range(tries):
        solution = _random_solution(rng, size)
        target = int(rng.integers(lo, hi + 1))
        for _attempt in range(3):
            givens = _carve(rng, solution, target)
            k = int(np.count_nonzero(givens))
            if lo <= k <= hi:
                score = rate(givens)
                if rating is None or rating[0] <= score <= rating[1]:
                    return Sudoku(givens=givens, solution=solution, rating=score)
    if rating is not None:
        raise PuzzleError(f"no {size}x{size} Sudoku with {lo}-{hi} givens rated {rating[0]:g}-{rating[1]:g} in "
                          f"{tries} tries; widen the rating or the givens")
    raise PuzzleError(f"could not reach {lo}-{hi} givens for a {size}x{size} Sudoku in {tries} tries; "
                      f"ask for more givens")


def _generate_job(args: tuple) -> Sudoku:
    seed, clues, size, rating = args
    return generate_one(seed, clues, size, rating=rating)


def check_clues(clues: tuple[int, int] | None, size: int) -> tuple[int, int]:
    if size not in BOXES:
        raise PuzzleError(f"unsupported Sudoku size {size} (supported: 4, 6, 9)")
    if clues is None:
        return DEFAULT_CLUES[size]
    lo, hi = int(clues[0]), int(clues[1])
    if lo > hi:
        raise PuzzleError(f"clue range {lo}-{hi} is empty")
    if lo < MIN_CLUES[size] or hi > size * size:
        raise PuzzleError(f"clues for a {size}x{size} Sudoku must lie in {MIN_CLUES[size]}-{size * size}, "
                          f"got {lo}-{hi}")
    return lo, hi


def iter_generate(count: int, *, seed: int, clues: tuple[int, int] | None = None, size: int = 9,
             rating: tuple[float, float] | None = None, workers: int | None = None, progress=None) -> Iterator[Sudoku]:
    """`count` puzzles with unique solutions and `clues` givens (default by size: 9 -> 30-35, 6 -> 12-18,
    4 -> 6-8; with a `rating` range, the hardest givens: 22-27 for 9x9). Puzzle k depends only on (seed, k), so the
    result is the same for any number of `workers`; large counts use a process pool. `progress(done, total)` is
    called as puzzles arrive."""
    if rating is not None:
        if rating[0] > rating[1] or rating[0] < 0:
            raise PuzzleError(f"rating range {rating[0]:g}-{rating[1]:g} is empty or negative")
        if clues is None:
            clues = (MIN_CLUES[size], MIN_CLUES[size] + 5) if size in MIN_CLUES else None
    clues = check_clues(clues, size)
    if count < 0:
        raise PuzzleError(f"count must be >= 0, got {count}")
    jobs = ((s, clues, size, rating) for s in seeds(seed, count))
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if count >= 64 or rating is not None else 1
    return iter_jobs(_generate_job, jobs, count, workers=workers, progress=progress, max_chunk=32)


def generate(count: int, **options) -> list[Sudoku]:
    """`iter_generate`'s puzzles as a list."""
    return list(iter_generate(count, **options))


# ----------------------------------------------------------------------------------------------------- the kind

def augment_batch(rng: np.random.Generator, grids: list[np.ndarray]) -> list[np.ndarray]:
    """One random symmetry per puzzle applied to every array of `grids` (each (B, n, n)): digit relabelling, bands
    and rows within bands, stacks and columns within stacks, and (square boxes only) transposition. Vectorised
    over the batch: the training data's augmentation."""
    B, n, _ = grids[0].shape
    br, bc = BOXES[n]

    def line_perm(box: int) -> np.ndarray:  # (B, n) permutation keeping lines inside their band/stack
        groups = n // box
        order = np.argsort(rng.random((B, groups)), axis=1)
        within = np.argsort(rng.random((B, groups, box)), axis=2)
        return (order[:, :, None] * box + within).reshape(B, n)

    rows, cols = line_perm(br), line_perm(bc)
    digits = np.concatenate([np.zeros((B, 1), np.int64), np.argsort(rng.random((B, n)), axis=1) + 1], axis=1)
    transpose = rng.random(B) < 0.5 if br == bc else np.zeros(B, bool)
    b = np.arange(B)[:, None, None]
    out = []
    for g in grids:
        g = g[b, rows[:, :, None], cols[:, None, :]]
        g = np.where(transpose[:, None, None], g.transpose(0, 2, 1), g)
        out.append(np.take_along_axis(digits, g.reshape(B, -1).astype(np.int64), axis=1).reshape(B, n, n))
    return out


def unique_answer(givens: np.ndarray) -> np.ndarray | None:
    """The solution when there is exactly one, else None."""
    result = solve(givens, limit=2)
    return result.solution if result.unique else None


class SudokuKind(PuzzleKind):
    module = sys.modules[__name__]
    name, title, title_plural = "sudoku", "Sudoku", "Sudoku"
    default_size = 9
    generator_options = ("clues", "rating")
    suffixes = (".txt", ".csv", ".sdk", ".sudoku")
    detect_order = 90  # the fallback: any text no other kind claims is read as Sudoku

    def sniff(self, text: str, suffix: str) -> bool:
        return not text.lstrip().startswith(("{", "["))

    def vocab_size(self, rows: int) -> int:
        return rows + 2  # PAD, blank and the digits

    def vocab_means(self, vocab: int) -> str | None:
        side = vocab - 2
        return f"a {side}x{side} Sudoku" if side in BOXES else None

    def side_for_vocab(self, vocab: int) -> int | None:
        return vocab - 2

    def items(self, path: str | os.PathLike) -> list[Item]:
        return [self.item(p, f"puzzle {i}") for i, p in enumerate(load(path), 1)]

    def item(self, record: Sudoku, label: str = "") -> Item:
        answer = record.solution if record.solution is not None else unique_answer(record.givens)
        return Item(record.givens, answer, label)

    def generate(self, count: int, *, seed: int, size: int, workers: int | None = None, progress=None,
                 **options) -> Iterator[Sudoku]:
        return iter_generate(count, seed=seed, size=size, workers=workers, progress=progress, **options)

    def fits(self, rows: int, shape: tuple[int, ...], any_canvas: bool = False) -> bool:
        return tuple(shape) == (rows, rows)

    def encode(self, grid: np.ndarray, encoding: Encoding) -> np.ndarray:
        size = encoding.rows
        if np.asarray(grid).shape != (size, size):
            raise PuzzleError(f"this model solves {size}x{size} Sudoku, the puzzle is {np.asarray(grid).shape}")
        return encode(grid)

    def decode(self, tokens: np.ndarray, encoding: Encoding, shape: tuple[int, int]) -> np.ndarray:
        return decode(tokens, encoding.rows)

    def answer(self, question: np.ndarray) -> np.ndarray | None:
        return unique_answer(question)

    def no_solution(self, question: np.ndarray, search: bool = True) -> str | None:
        question = np.asarray(question)
        clash = np.asarray(conflicts(question), bool) & (question > 0)
        if clash.any():
            r, c = (int(v) for v in np.argwhere(clash)[0])
            return (f"its givens clash (the {int(question[r, c])} at row {r + 1}, column {c + 1} repeats in its row, "
                    "column or box)")
        if search and solve(question, limit=1).solution is None:
            return "no digits complete its givens (the classical solver finds none)"
        return None

    def worth_searching(self, question: np.ndarray) -> bool:
        """Once a fifth of the grid is given (an empty grid is not worth searching)."""
        return int((question > 0).sum()) >= max(4, question.size // 5)

    def is_valid(self, question: np.ndarray, grid: np.ndarray) -> bool:
        return grid.shape == question.shape and bool(is_valid_solution(question, grid))

    def given_mask(self, question: np.ndarray) -> np.ndarray:
        return np.asarray(question) > 0

    def rule_errors(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> np.ndarray:
        errors = np.asarray(conflicts(grid), bool) | (grid == 0)
        errors |= (question > 0) & (grid != question)
        if expected is not None and expected.shape == grid.shape and not self.is_valid(question, grid):
            errors |= grid != expected
        return errors

    def describe_mistakes(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> str:
        question, grid = np.asarray(question), np.asarray(grid)
        if grid.shape != question.shape:
            return f"The answer is {grid.shape[0]}x{grid.shape[1]}, the puzzle {question.shape[0]}x{question.shape[1]}"
        parts = []
        clashes = int((np.asarray(conflicts(grid), bool) & (grid > 0)).sum())
        changed = int(((question > 0) & (grid != question)).sum())
        empty = int((grid == 0).sum())
        if clashes:
            parts.append(f"{plural(clashes, 'cell')} repeat a digit in a row, column or box")
        if changed:
            parts.append(f"{plural(changed, 'given')} changed")
        if empty:
            parts.append(f"{plural(empty, 'cell')} left empty")
        return "Breaks the rules: " + ", ".join(parts) if parts else "Breaks the rules"

    def outside_training(self, dataset: dict, question: np.ndarray) -> str | None:
        clues, givens = dataset.get("clues"), int((np.asarray(question) > 0).sum())
        if isinstance(clues, list) and len(clues) == 2 and givens and not clues[0] <= givens <= clues[1]:
            return f"was trained on {clues[0]}-{clues[1]} givens; this puzzle has {givens}"
        return None

    def cell_text(self, value: int) -> str:
        return "." if value == 0 else str(value) if value < 10 else chr(ord("A") + value - 10)

    def augment(self, rng: np.random.Generator, grids: list[np.ndarray]) -> list[np.ndarray]:
        return augment_batch(rng, grids)

    def views(self, question: np.ndarray, count: int, rng: np.random.Generator) -> list[View]:
        """The puzzle as given, then `count - 1` random validity-preserving relabellings."""
        views = [IDENTITY]
        for _ in range(count - 1):
            t = random_transform(rng, question.shape[0])
            name = "digits, bands/stacks, rows/columns" + (", transposed" if t.transpose else "")

            def back(g: np.ndarray, positions_only: bool = False, t=t) -> np.ndarray:
                if not positions_only:
                    return t.invert(g)
                x = np.asarray(g)[np.argsort(t.row_perm)][:, np.argsort(t.col_perm)]
                return np.ascontiguousarray(x.T if t.transpose else x)

            views.append(View(name, t.apply, back))
        return views

    def plausible(self, question: np.ndarray, grid: np.ndarray) -> bool:
        return bool(is_valid_solution(question, grid))


KIND = register(SudokuKind())
