"""Mazes: text grids over `# SGo` (wall, open, start, goal, path), up to 30 x 30.

Tokens follow the reference builder (`dataset/build_maze_dataset.py`): character index in `CHARSET` + 1, PAD 0,
vocab 6. The puzzle is the grid without `o`; the answer marks one shortest S-G path with `o`. Generated mazes have
loops (several routes), and only those whose shortest path is long are kept, as in the reference Maze-Hard; their
shortest path is unique, so the answer is unambiguous. Even sizes keep a spare wall row/column at the bottom/right.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.puzzles.augment import DIHEDRAL_NAMES, dihedral, inverse_dihedral
from engine.puzzles.base import (
    MAX_GRID,
    Encoding,
    Provenance,
    PuzzleError,
    atomic_write_text,
    csv_puzzles,
    iter_csv,
    iter_jobs,
    looks_like_csv,
    read_text,
    seeds,
    write_csv,
)
from engine.puzzles.kind import Item, Judgement, PuzzleKind, View, plural, register

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(5)
_CODE = {ch: i for i, ch in enumerate(CHARSET)}
_CHARS = np.array(list(CHARSET))
MIN_SIZE = 5
LOOP_FRACTION = 0.2  # of a depth-first maze's walls knocked out for loops, unless asked otherwise


@dataclass
class Maze(Provenance):
    """`grid`: H x W int8 cell codes without the path; `solution`: the same grid with a shortest path as `o`."""

    grid: np.ndarray
    solution: np.ndarray | None = None


# ----------------------------------------------------------------------------------------------------------- parsing

def _parse_rows(rows: list[tuple[int, int, str]], *, source) -> np.ndarray:
    """`rows` = (line, first column, text). Checks characters, rectangular shape and size."""
    if not rows:
        raise PuzzleError("empty maze", source=source)
    if len(rows) > MAX_GRID:
        raise PuzzleError(f"maze has {len(rows)} rows, at most {MAX_GRID} are supported", source=source,
                          line=rows[MAX_GRID][0])
    width = len(rows[0][2])
    grid = np.zeros((len(rows), width), dtype=np.int8)
    for r, (line, col0, text) in enumerate(rows):
        if len(text) > MAX_GRID:
            raise PuzzleError(f"maze row {r + 1} has {len(text)} cells, at most {MAX_GRID} are supported",
                              source=source, line=line, column=col0 + MAX_GRID)
        if len(text) != width:
            raise PuzzleError(f"maze row {r + 1} has {len(text)} cells, expected {width} like the first row",
                              source=source, line=line)
        for c, ch in enumerate(text):
            code = _CODE.get(ch)
            if code is None:
                raise PuzzleError(f"unexpected character {ch!r} in a maze (expected one of '#', ' ', 'S', 'G', "
                                  f"'o')", source=source, line=line, column=col0 + c)
            grid[r, c] = code
    return grid


def _check_endpoints(grid: np.ndarray, *, source, line) -> None:
    for code, name in ((START, "S (start)"), (GOAL, "G (goal)")):
        found = np.argwhere(grid == code)
        if len(found) != 1:
            extra = "" if len(found) < 2 else (f" (at row {found[0][0] + 1}, column {found[0][1] + 1} and row "
                                               f"{found[1][0] + 1}, column {found[1][1] + 1})")
            raise PuzzleError(f"a maze needs exactly one {name}, found {len(found)}{extra}", source=source,
                              line=line)


def _from_grid(grid: np.ndarray, *, source, line, rating=None) -> Maze:
    _check_endpoints(grid, source=source, line=line)
    if (grid == PATH).any():
        question = np.where(grid == PATH, OPEN, grid).astype(np.int8)
        return Maze(question, grid, source=None if source is None else str(source), rating=rating)
    return Maze(grid, None, source=None if source is None else str(source), rating=rating)


def parse(text: str, *, source: str | os.PathLike | None = None, line: int | None = None) -> Maze:
    """One maze from a text grid (rows on lines). A grid that already shows a path (`o`) keeps it as the solution."""
    if not isinstance(text, str):
        raise PuzzleError(f"expected text, got {type(text).__name__}", source=source, line=line)
    base = line if line is not None else 1
    lines = text.split("\n")
    rows = [(base + i, 1, raw.rstrip("\r")) for i, raw in enumerate(lines)]
    while rows and not rows[0][2].strip():
        rows.pop(0)
    while rows and not rows[-1][2].strip():
        rows.pop()
    if not rows:
        raise PuzzleError("empty maze", source=source, line=line)
    grid = _parse_rows(rows, source=source)
    return _from_grid(grid, source=source, line=rows[0][0])


def _parse_flat(text: str, *, source, line, column) -> np.ndarray:
    n = int(round(len(text) ** 0.5))
    if n * n != len(text) or n == 0:
        raise PuzzleError(f"a flattened maze must have a square number of cells (e.g. 900 for 30 x 30), found "
                          f"{len(text)}", source=source, line=line, column=column)
    if n > MAX_GRID:
        raise PuzzleError(f"maze is {n} x {n}, at most {MAX_GRID} x {MAX_GRID} is supported", source=source,
                          line=line, column=column)
    rows = [(line, column + r * n, text[r * n:(r + 1) * n]) for r in range(n)]
    return _parse_rows(rows, source=source)


def loads(text: str, *, source: str | os.PathLike | None = None) -> list[Maze]:
    """Mazes from text: the `source,question,answer,rating` CSV (flattened square grids) or text grids separated
    by blank lines (a line of only spaces counts as a maze row, so separate mazes with truly empty lines)."""
    if looks_like_csv(text):
        def read(rec) -> tuple[np.ndarray, np.ndarray | None]:  # one CsvRecord
            grid = _parse_flat(rec.question, source=source, line=rec.line, column=rec.question_column)
            if (grid == PATH).any():
                raise PuzzleError("the question shows a path ('o'); only the answer may", source=source,
                                  line=rec.line, column=rec.question_column)
            _check_endpoints(grid, source=source, line=rec.line)
            if rec.answer is None:
                return grid, None
            answer = _parse_flat(rec.answer, source=source, line=rec.line, column=rec.answer_column)
            if answer.shape != grid.shape or np.any(np.where(answer == PATH, OPEN, answer) != grid):
                raise PuzzleError("answer differs from the question in more than the path", source=source,
                                  line=rec.line, column=rec.answer_column)
            return grid, answer

        return csv_puzzles(text, source, read, Maze)
    out, block = [], []
    lines = text.split("\n")
    for i, raw in enumerate(lines + [""]):
        raw = raw.rstrip("\r")
        if raw:
            block.append((i + 1, 1, raw))
        elif block:
            out.append(_from_grid(_parse_rows(block, source=source), source=source, line=block[0][0]))
            block = []
    if not out:
        raise PuzzleError("no maze found", source=source)
    return out


def load(path: str | os.PathLike) -> list[Maze]:
    return loads(read_text(path), source=path)


def to_text(grid: np.ndarray) -> str:
    return "\n".join("".join(_CHARS[np.asarray(row)]) for row in np.asarray(grid)) + "\n"


def to_flat(grid: np.ndarray) -> str:
    return "".join(_CHARS[np.asarray(grid).reshape(-1)])


def dumps(mazes: list[Maze], *, csv: bool) -> str:
    if csv:
        for m in mazes:
            if m.grid.shape[0] != m.grid.shape[1]:
                raise PuzzleError(f"the CSV layout needs square mazes, got {m.grid.shape[0]} x {m.grid.shape[1]}")
        return write_csv([(m.source or "", to_flat(m.grid), "" if m.solution is None else to_flat(m.solution),
                           "" if m.rating is None else f"{m.rating:g}") for m in mazes])
    return "\n".join(to_text(m.grid) for m in mazes)


def save(path: str | os.PathLike, mazes: list[Maze]) -> None:
    """Write atomically: `.csv` -> `source,question,answer,rating` (flattened, answers kept), else the puzzles as
    text grids separated by blank lines (no path drawn, like Sudoku line files keep no answers)."""
    atomic_write_text(path, dumps(mazes, csv=Path(path).suffix.lower() == ".csv"))


# ---------------------------------------------------------------------------------------------------------- solving

def _bfs_flat(passable: list[bool], h: int, w: int, start: int) -> list[int]:
    """Breadth-first distances over a flat row-major grid (-1 = unreachable); plain lists, as numpy element
    access is slow in a Python loop."""
    dist = [-1] * (h * w)
    dist[start] = 0
    frontier = [start]
    d = 0
    last = w - 1
    n = h * w
    while frontier:
        d += 1
        nxt = []
        for i in frontier:
            c = i % w
            for j in (i - w, i + w, i - 1 if c else -1, i + 1 if c != last else -1):
                if 0 <= j < n and passable[j] and dist[j] < 0:
                    dist[j] = d
                    nxt.append(j)
        frontier = nxt
    return dist


def _relax(passable: list[bool], dist: list[int], width: int, cell: int) -> None:
    """Update BFS distances in place after `cell` became passable: distances only shrink, and only where a route
    through `cell` is shorter, so a search from `cell` that stops at cells it does not improve suffices."""
    n = len(dist)
    last = width - 1
    around = [dist[j] for j in (cell - width, cell + width, cell - 1 if cell % width else -1,
                                cell + 1 if cell % width != last else -1) if 0 <= j < n and dist[j] >= 0]
    if not around:
        return
    dist[cell] = min(around) + 1
    frontier = [cell]
    while frontier:
        nxt = []
        for i in frontier:
            d = dist[i] + 1
            c = i % width
            for j in (i - width, i + width, i - 1 if c else -1, i + 1 if c != last else -1):
                if 0 <= j < n and passable[j] and (dist[j] < 0 or dist[j] > d):
                    dist[j] = d
                    nxt.append(j)
        frontier = nxt


def _bfs(grid: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Distance from `start` to every non-wall cell (-1 = unreachable)."""
    h, w = grid.shape
    passable = (np.asarray(grid) != WALL).reshape(-1).tolist()
    return np.array(_bfs_flat(passable, h, w, start[0] * w + start[1]), dtype=np.int32).reshape(h, w)


def _endpoint(grid: np.ndarray, code: int) -> tuple[int, int]:
    found = np.argwhere(grid == code)
    if len(found) != 1:
        raise PuzzleError(f"a maze needs exactly one {CHARSET[code]}, found {len(found)}")
    return int(found[0][0]), int(found[0][1])


def shortest_path_length(grid: np.ndarray) -> int | None:
    """Number of steps of a shortest S-G path, None if G is unreachable."""
    grid = np.asarray(grid)
    d = int(_bfs(grid, _endpoint(grid, START))[_endpoint(grid, GOAL)])
    return None if d < 0 else d


def shortest_path(grid: np.ndarray) -> np.ndarray | None:
    """The grid with one shortest S-G path marked `o` (BFS; ties broken up, down, left, right from G), or None."""
    grid = np.where(np.asarray(grid) == PATH, OPEN, np.asarray(grid)).astype(np.int8)
    start, goal = _endpoint(grid, START), _endpoint(grid, GOAL)
    dist = _bfs(grid, start)
    if dist[goal] < 0:
        return None
    out = grid.copy()
    h, w = grid.shape
    r, c = goal
    while dist[r, c] > 1:
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < h and 0 <= cc < w and dist[rr, cc] == dist[r, c] - 1:
                r, c = rr, cc
                break
        out[r, c] = PATH
    return out


def wave_distances(passable: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Breadth-first distances from the `start` cells over `passable` ones on a (B, H, W) batch, every maze's whole
    wavefront advanced by one numpy step (-1 = unreachable): a batch costs about as much as its longest search."""
    dist = np.where(start, 0, -1).astype(np.int32)
    frontier = start.copy()
    d = 0
    while frontier.any():
        d += 1
        grown = np.zeros_like(frontier)
        grown[:, 1:] |= frontier[:, :-1]
        grown[:, :-1] |= frontier[:, 1:]
        grown[:, :, 1:] |= frontier[:, :, :-1]
        grown[:, :, :-1] |= frontier[:, :, 1:]
        frontier = grown & passable & (dist < 0)
        dist[frontier] = d
    return dist


def _neighbour_max(a: np.ndarray) -> np.ndarray:
    """For every cell of a (B, H, W) batch, the largest value among its four neighbours (-inf outside the grid)."""
    out = np.full_like(a, -np.inf)
    out[:, 1:] = np.maximum(out[:, 1:], a[:, :-1])
    out[:, :-1] = np.maximum(out[:, :-1], a[:, 1:])
    out[:, :, 1:] = np.maximum(out[:, :, 1:], a[:, :, :-1])
    out[:, :, :-1] = np.maximum(out[:, :, :-1], a[:, :, 1:])
    return out


def _route_cells(grids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For a (B, H, W) batch: (distances from S, the cells on some shortest S-G route, that route's length, which
    mazes have one, G's flat index). A cell is on one when its distance from S plus its distance to G is the
    shortest; random-wall mazes have many such routes."""
    B = grids.shape[0]
    start, goal = grids == START, grids == GOAL
    passable = grids != WALL
    d_s, d_g = wave_distances(passable, start), wave_distances(passable, goal)
    gflat = goal.reshape(B, -1).argmax(1)
    length = d_s.reshape(B, -1)[np.arange(B), gflat]
    ok = (length > 0) & start.reshape(B, -1).any(1) & goal.reshape(B, -1).any(1)
    on_route = (d_s >= 0) & (d_g >= 0) & (d_s + d_g == length[:, None, None])
    return d_s, on_route, length, ok, gflat


def nearest_shortest_routes(grids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among all shortest S-G routes of each maze of a (B, H, W) batch, the one with the highest summed per-cell
    `scores`: (the mazes with that route marked `o`, which mazes have a route at all).

    Random-wall mazes have many shortest routes (a median of 17 at 12 x 12, 2e8 at 30 x 30), so an answer is
    measured against the route nearest to it, not against the one a BFS happened to label: scored +1 on the cells
    an answer marks, the result is the shortest route sharing most cells with it (the cells a user should fix),
    and scored with a model's logits it is the training target (trainers.maze_labels). Dynamic programming over
    the breadth-first layers of the routes' cells, then a walk back from G, all mazes at once."""
    B, H, W = grids.shape
    d_s, on_route, length, ok, gflat = _route_cells(grids)
    best = np.where(grids == START, 0.0, -np.inf)  # the best score of a shortest partial route from S to each cell
    for d in range(1, int(length.max(initial=0)) + 1):
        layer = on_route & (d_s == d)
        if layer.any():
            best = np.where(layer, scores + _neighbour_max(best), best)
    out = np.where(grids == PATH, OPEN, grids).astype(np.int64)
    rows, cols = gflat // W, gflat % W
    batch = np.arange(B)
    for _ in range(int(length.max(initial=0)) - 1):  # back from G, each time to the best cell one layer nearer S
        here = d_s[batch, rows, cols]
        active = ok & (here > 1)
        if not active.any():
            break
        choice_val = np.full(B, -np.inf)
        nr, nc = rows.copy(), cols.copy()
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            r, c = np.clip(rows + dr, 0, H - 1), np.clip(cols + dc, 0, W - 1)
            inside = (rows + dr == r) & (cols + dc == c)
            step_ok = inside & on_route[batch, r, c] & (d_s[batch, r, c] == here - 1)
            val = np.where(step_ok, best[batch, r, c], -np.inf)
            better = val > choice_val
            choice_val = np.where(better, val, choice_val)
            nr, nc = np.where(better, r, nr), np.where(better, c, nc)
        rows, cols = np.where(active, nr, rows), np.where(active, nc, cols)
        out[batch[active], rows[active], cols[active]] = PATH
    return out.astype(grids.dtype), ok


def style_of(grid: np.ndarray) -> str:
    """"hard" for random walls (Maze-Hard), "dfs" for corridor mazes: a depth-first maze never has an open 2 x 2
    block (its loops are knocked through without opening one), random walls at 30-50% almost always do."""
    open_ = np.asarray(grid) != WALL
    block = open_[:-1, :-1] & open_[1:, :-1] & open_[:-1, 1:] & open_[1:, 1:]
    return "hard" if block.any() else "dfs"


def _marked_path(grid: np.ndarray, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(the maze without a path, the cells the answer marks `o`) when the answer is the maze with `o` on open cells
    only and nothing else changed, else None."""
    grid, answer = np.asarray(grid), np.asarray(answer)
    if grid.shape != answer.shape or grid.ndim != 2:
        return None
    base = np.where(grid == PATH, OPEN, grid)
    path = answer == PATH
    if np.any(path & (base != OPEN)) or np.any(~path & (answer != base)):
        return None
    return base, path


def route_length(grid: np.ndarray, answer: np.ndarray) -> int | None:
    """Steps of the S-G route an answer marks, if it marks one: `o` only on open cells, and the marked cells with S
    and G forming a single simple path (S and G with one neighbour on it, every marked cell with two), else None.
    Checking this needs no search of the maze, so a user (or think-harder's choice between trajectories) can apply
    it without knowing the answer; whether the route is also a shortest one is `is_valid_solution`'s question."""
    marked = _marked_path(grid, answer)
    if marked is None:
        return None
    base, path = marked
    on = path | (base == START) | (base == GOAL)
    padded = np.pad(on, 1)
    neighbours = (padded[:-2, 1:-1].astype(int) + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:])
    ends = (base == START) | (base == GOAL)
    if np.any(ends & (neighbours != 1)) or np.any(path & (neighbours != 2)) or ends.sum() != 2:
        return None
    walk = np.where(on, OPEN, WALL).astype(np.int8)
    walk[ends] = base[ends]
    length = shortest_path_length(walk)
    return length if length is not None and length == int(path.sum()) + 1 else None


def is_valid_solution(grid: np.ndarray, answer: np.ndarray) -> bool:
    """True when `answer` is `grid` plus a connected S-G path of `o` over open cells of shortest length."""
    marked = _marked_path(grid, answer)
    if marked is None:
        return False
    base, path = marked
    try:
        best = shortest_path_length(base)
    except PuzzleError:
        return False
    if best is None or int(path.sum()) != best - 1:
        return False
    # the path cells plus S and G must be connected from S to G using only path cells
    walk = np.where(path | (base == START) | (base == GOAL), OPEN, WALL).astype(np.int8)
    walk[_endpoint(base, START)] = START
    walk[_endpoint(base, GOAL)] = GOAL
    return shortest_path_length(walk) == best


# ------------------------------------------------------------------------------------------------------- encoding

def encoding(size: int = 30) -> Encoding:
    if not MIN_SIZE <= size <= MAX_GRID:
        raise PuzzleError(f"maze size must be {MIN_SIZE}-{MAX_GRID}, got {size}")
    return Encoding(kind="maze", rows=size, cols=size, vocab_size=len(CHARSET) + 1, seq_len=size * size)


def encode(grid: np.ndarray) -> np.ndarray:
    """Flat int64 tokens: code + 1 (`#` 1, ` ` 2, `S` 3, `G` 4, `o` 5)."""
    return np.asarray(grid, dtype=np.int64).reshape(-1) + 1


def decode(tokens: np.ndarray, size: int | None = None) -> np.ndarray:
    """Grid from tokens; PAD (and anything out of range) decodes to wall."""
    t = np.asarray(tokens, dtype=np.int64).reshape(-1)
    n = size if size is not None else int(round(t.size ** 0.5))
    if n * n != t.size:
        raise PuzzleError(f"{t.size} tokens are not a square maze" + (f" of size {size}" if size else ""))
    codes = t - 1
    codes[(codes < 0) | (codes >= len(CHARSET))] = WALL
    return codes.reshape(n, n).astype(np.int8)


def pad_to(grid: np.ndarray, size: int) -> np.ndarray:
    """Pad with walls at the bottom and right so a smaller maze fits a model trained on `size` x `size`."""
    grid = np.asarray(grid)
    h, w = grid.shape
    if h > size or w > size:
        raise PuzzleError(f"a {h} x {w} maze does not fit a {size} x {size} model")
    out = np.full((size, size), WALL, dtype=np.int8)
    out[:h, :w] = grid
    return out


# ----------------------------------------------------------------------------------------------------- generation

def default_min_path(size: int) -> int:
    """Threshold for 'hard': about an eighth of the cells, like Maze-Hard's long shortest paths at 30 x 30."""
    return max(4, (size * size) // 8)


def _perfect_maze(rng: np.random.Generator, size: int) -> np.ndarray:
    """A perfect maze (one route between any two cells) on the odd lattice, by randomised depth-first search.
    Even sizes leave the row and column next to the bottom/right border as walls (loops may open them)."""
    grid = np.zeros((size, size), dtype=np.int8)
    hi = size - 2 if size % 2 else size - 3  # last odd index that is a cell
    cells = list(range(1, hi + 1, 2))
    start = (cells[int(rng.integers(len(cells)))], cells[int(rng.integers(len(cells)))])
    grid[start] = OPEN
    stack = [start]
    while stack:
        r, c = stack[-1]
        options = [(r + dr, c + dc) for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))
                   if 1 <= r + dr <= hi and 1 <= c + dc <= hi and grid[r + dr, c + dc] == WALL]
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        grid[(r + nr) // 2, (c + nc) // 2] = OPEN
        grid[nr, nc] = OPEN
        stack.append((nr, nc))
    return grid


def _loop_walls(grid: np.ndarray) -> list[tuple[int, int]]:
    """Inner wall cells whose removal joins two open cells (left-right or up-down): each one opens a loop."""
    size = grid.shape[0]
    out = []
    for r in range(1, size - 1):
        for c in range(1, size - 1):
            if grid[r, c] == WALL and ((grid[r - 1, c] != WALL and grid[r + 1, c] != WALL)
                                       or (grid[r, c - 1] != WALL and grid[r, c + 1] != WALL)):
                out.append((r, c))
    return out


def _far_pair(rng: np.random.Generator, grid: np.ndarray) -> tuple[tuple[int, int], tuple[int, int], int]:
    """Two open cells at (approximately) the maze's diameter: BFS from a random cell, then from the farthest."""
    open_cells = np.argwhere(grid == OPEN)
    first = tuple(int(x) for x in open_cells[int(rng.integers(len(open_cells)))])
    d = _bfs(grid, first)
    far = np.argwhere(d == d.max())
    s = tuple(int(x) for x in far[int(rng.integers(len(far)))])
    d = _bfs(grid, s)
    far = np.argwhere(d == d.max())
    g = tuple(int(x) for x in far[int(rng.integers(len(far)))])
    return s, g, int(d[g])


def _add_loops(rng: np.random.Generator, grid: np.ndarray, s, g, fraction: float) -> int:
    """Knock out about `fraction` of the loop walls, keeping only knocks that open no 2 x 2 room and whose new
    route from S to G is longer than the shortest path, so the maze gains alternative routes while its shortest
    path stays the same one and unique (training labels are then unambiguous). A knock at w joins neighbours p, q
    and can only create routes S..p-w-q..G, so distances from S and from G decide it; they are updated in place
    after each knock kept. Returns the number of knocks."""
    walls = _loop_walls(grid)
    target = int(round(fraction * len(walls)))
    h, w = grid.shape
    passable = (grid != WALL).reshape(-1).tolist()
    si, gi = s[0] * w + s[1], g[0] * w + g[1]
    d_s, d_g = _bfs_flat(passable, h, w, si), _bfs_flat(passable, h, w, gi)
    length = d_s[gi]
    opened = 0
    for k in rng.permutation(len(walls)):
        if opened >= target:
            break
        r, c = walls[int(k)]
        i = r * w + c
        if any(passable[i + dr * w] and passable[i + dc] and passable[i + dr * w + dc]
               for dr in (-1, 1) for dc in (-1, 1)):
            continue  # would open a 2 x 2 room: keep corridors one cell wide
        nbrs = [j for j in (i - w, i + w, i - 1, i + 1) if d_s[j] >= 0]  # loop walls are never on the border
        via = min((d_s[p] + 2 + d_g[q] for p in nbrs for q in nbrs if p != q), default=length + 1)
        if via <= length:
            continue
        grid[r, c] = OPEN
        passable[i] = True
        opened += 1
        _relax(passable, d_s, w, i)  # other cells' distances may shrink even though S-G's does not
        _relax(passable, d_g, w, i)
    return opened


def generate_one(seed: np.random.SeedSequence | int, size: int = 15, min_path: int | None = None,
                 loop_fraction: float = LOOP_FRACTION, max_tries: int = 200) -> Maze:
    """One maze with loops whose unique shortest S-G path has at least `min_path` steps, reproducible from
    `seed`: a perfect maze, S and G at (about) its diameter, then loops that only add longer routes."""
    if not MIN_SIZE <= size <= MAX_GRID:
        raise PuzzleError(f"maze size must be {MIN_SIZE}-{MAX_GRID}, got {size}")
    need = default_min_path(size) if min_path is None else int(min_path)
    rng = np.random.default_rng(seed)
    best = 0
    for _ in range(max_tries):
        grid = _perfect_maze(rng, size)
        s, g, length = _far_pair(rng, grid)
        best = max(best, length)
        if length < need:
            continue
        _add_loops(rng, grid, s, g, loop_fraction)
        grid[s] = START
        grid[g] = GOAL
        return Maze(grid, shortest_path(grid), rating=float(length))
    raise PuzzleError(f"no {size} x {size} maze with a shortest path of {need} steps in {max_tries} tries "
                      f"(longest found: {best}); ask for a shorter min_path")


HARD_DENSITY = (0.3, 0.5)
MAZE_STYLES = ("dfs", "hard")


def hard_min_path(size: int) -> int:
    """Maze-Hard keeps 30 x 30 grids whose shortest path is longer than 110 steps; smaller sides scale that by
    area (20 x 20: 49, 15 x 15: 28)."""
    return max(4, round(111 * size * size / 900))


def _grow(frontier: np.ndarray, passable: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """One BFS wavefront step on bit-packed grids: (B, H) uint32 rows, bit c = column c."""
    nxt = (frontier << np.uint32(1)) | (frontier >> np.uint32(1))
    nxt[:, 1:] |= frontier[:, :-1]
    nxt[:, :-1] |= frontier[:, 1:]
    return nxt & passable & ~seen


def _reach(passable: np.ndarray, start: np.ndarray, need: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For bit-packed grids and start cells: the cells reached last (farthest), those at least `need` steps away, and
    each start's eccentricity (steps to its farthest cell). Each step advances every grid's whole wavefront with a
    few integer operations on 32-bit rows, and grids whose wavefront has died leave the batch, which is what makes
    rejection sampling of rare long paths affordable."""
    last, far = start.copy(), np.zeros_like(start)
    depth = np.zeros(len(start), np.int64)
    rows = np.arange(len(start))  # which grids the working arrays hold
    open_, seen, frontier = passable, start.copy(), start.copy()
    d = 0
    while len(rows):
        d += 1
        frontier = _grow(frontier, open_, seen)
        alive = frontier.any(axis=1)
        if not alive.all():
            rows, open_, seen, frontier = rows[alive], open_[alive], seen[alive], frontier[alive]
        seen |= frontier
        last[rows] = frontier
        depth[rows] = d
        if d >= need:
            far[rows] |= frontier
    return last, far, depth


def _pick_bits(rng: np.random.Generator, bits: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """A random set bit of each bit-packed grid (a random non-empty row, then a random cell of it; cheap, and
    random enough to seed a sweep): (flat cell index, the cell as a bit-packed grid)."""
    rows = np.where(bits != 0, rng.random(bits.shape), -1.0).argmax(axis=1)
    row_bits = bits[np.arange(len(bits)), rows]
    cells = (row_bits[:, None] >> np.arange(side, dtype=np.uint32)) & 1
    cols = np.where(cells != 0, rng.random(cells.shape), -1.0).argmax(axis=1)
    one = np.zeros_like(bits)
    one[np.arange(len(bits)), rows] = np.uint32(1) << cols.astype(np.uint32)
    return rows * side + cols, one


def generate_hard(seed: np.random.SeedSequence | int, count: int, size: int = 30, min_path: int | None = None,
                  density: tuple[float, float] = HARD_DENSITY, max_tries: int = 200_000) -> list[Maze]:
    """`count` Maze-Hard-style grids (the procedure of Lehnert et al. that HRM used): walls on a random `density`
    fraction of the cells, S and G open cells at least `min_path` steps apart; the answer is one shortest path
    (many routes tie; `is_valid_solution` accepts any). Long paths are rare (at 30 x 30 about 1 grid in 500 has
    one), so candidates are searched up to 4,096 at a time on bit-packed rows and every hit of a batch is kept. S is
    taken from the farthest cells of a random open cell (a pair drawn uniformly would almost never be far enough
    apart), G uniformly among the cells far enough from S, and S and G swap with probability 1/2. Reproducible from
    `seed` and `count`."""
    if not MIN_SIZE <= size <= MAX_GRID:
        raise PuzzleError(f"maze size must be {MIN_SIZE}-{MAX_GRID}, got {size}")
    lo, hi = density
    if not 0 <= lo <= hi < 1:
        raise PuzzleError(f"wall density must be a range within 0-1, got {lo}-{hi}")
    need = hard_min_path(size) if min_path is None else int(min_path)
    rng = np.random.default_rng(seed)
    weights = np.uint32(1) << np.arange(size, dtype=np.uint32)
    found: list[Maze] = []
    batch, tried = 8, 0
    while len(found) < count:
        if tried >= max_tries * count:
            raise PuzzleError(f"no {size} x {size} random-wall grid with a shortest path of {need} steps in "
                              f"{tried} tries; ask for a shorter min_path or a density range nearer 0.4")
        batch = min(2 * batch, 4096)  # small batches while long paths come easily (small grids), large when rare
        tried += batch
        walls = rng.random((batch, size, size)) < rng.uniform(lo, hi, batch)[:, None, None]
        passable = ((~walls) * weights).sum(axis=2, dtype=np.uint32)
        usable = np.flatnonzero(passable.any(axis=1))
        if len(usable) == 0:
            continue
        walls, passable = walls[usable], passable[usable]
        _, first = _pick_bits(rng, passable, size)
        last, _, eccentricity = _reach(passable, first, need)
        wide = np.flatnonzero(2 * eccentricity >= need)  # no two cells of a narrower component are `need` apart
        if len(wide) == 0:
            continue
        walls, passable, last = walls[wide], passable[wide], last[wide]
        s_flat, start = _pick_bits(rng, last, size)
        _, far, _ = _reach(passable, start, need)
        for k in np.flatnonzero(far.any(axis=1))[: count - len(found)]:
            far_cells = np.flatnonzero((far[k][:, None] >> np.arange(size, dtype=np.uint32)) & 1)
            g_flat = int(far_cells[int(rng.integers(len(far_cells)))])
            ends = (int(s_flat[k]), g_flat) if rng.random() < 0.5 else (g_flat, int(s_flat[k]))
            grid = np.where(walls[k], WALL, OPEN).astype(np.int8)
            grid.flat[ends[0]] = START
            grid.flat[ends[1]] = GOAL
            solution = shortest_path(grid)
            found.append(Maze(grid, solution, rating=float((solution == PATH).sum() + 1)))
    return found


def generate_hard_one(seed: np.random.SeedSequence | int, size: int = 30, min_path: int | None = None,
                      density: tuple[float, float] = HARD_DENSITY) -> Maze:
    """One Maze-Hard-style grid (`generate_hard`)."""
    return generate_hard(seed, 1, size, min_path, density)[0]


HARD_CHUNK = 64  # Maze-Hard grids found by one search (`iter_generate`): a batch holds several hits at 30 x 30


def _hard_chunk_job(args: tuple) -> list[Maze]:
    seed, count, size, min_path, density = args
    return generate_hard(seed, count, size, min_path, density)


def _generate_job(args: tuple) -> Maze:
    seed, size, min_path, loops = args
    return generate_one(seed, size, min_path, loop_fraction=loops)


def iter_generate(count: int, *, seed: int, size: int = 15, min_path: int | None = None, loops: float = LOOP_FRACTION,
             style: str = "dfs", density: tuple[float, float] = HARD_DENSITY, workers: int | None = None,
             progress=None) -> Iterator[Maze]:
    """`count` mazes (`solution` filled, `rating` = shortest path length). Maze k depends only on (seed, k), or for
    "hard" on (seed, k // HARD_CHUNK). `style`: "dfs" (a depth-first maze, `loops` the fraction of loop walls
    knocked out, 0: perfect mazes) or "hard" (Maze-Hard's random walls at a `density` range, `generate_hard`)."""
    if style not in MAZE_STYLES:
        raise PuzzleError(f"maze style must be one of {', '.join(MAZE_STYLES)}, not {style!r}")
    if count < 0:
        raise PuzzleError(f"count must be >= 0, got {count}")
    if not MIN_SIZE <= size <= MAX_GRID:
        raise PuzzleError(f"maze size must be {MIN_SIZE}-{MAX_GRID}, got {size}")
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if count * size * size >= 200_000 else 1
    if style == "hard":
        chunks = -(-count // HARD_CHUNK)
        jobs = ((s, min(HARD_CHUNK, count - j * HARD_CHUNK), size, min_path, tuple(density))
                for j, s in enumerate(seeds(seed, chunks)))
        report = (lambda done, _: progress(min(count, done * HARD_CHUNK), count)) if progress else None
        found = iter_jobs(_hard_chunk_job, jobs, chunks, workers=workers, progress=report, max_chunk=1)
        return (m for chunk in found for m in chunk)
    jobs = ((s, size, min_path, loops) for s in seeds(seed, count))
    return iter_jobs(_generate_job, jobs, count, workers=workers, progress=progress, max_chunk=16)


def generate(count: int, **options) -> list[Maze]:
    """`iter_generate`'s puzzles as a list."""
    return list(iter_generate(count, **options))


# ----------------------------------------------------------------------------------------------------- the kind

def _claims(text: str) -> bool:
    """A maze file: CSV whose first question has walls, or text whose first line is made of maze cells only."""
    if looks_like_csv(text):
        try:
            first = next(iter_csv(text), None)
        except PuzzleError:
            return False
        return first is not None and "#" in first.question
    first = next((ln.rstrip("\r") for ln in text.split("\n") if ln.strip()), "")
    return bool(first) and set(first) <= set(CHARSET) and bool(set(first) & set("#SG"))


def on_shortest_route(base: np.ndarray) -> tuple[np.ndarray, int] | None:
    """(the cells that lie on some shortest S-G route, that route's length in steps) of a maze without a path drawn,
    or None when it has not one S and one G, or G cannot be reached."""
    if (base == START).sum() != 1 or (base == GOAL).sum() != 1:
        return None
    _, on_route, length, ok, _ = _route_cells(base[None])
    return (on_route[0], int(length[0])) if ok[0] else None


class MazeKind(PuzzleKind):
    module = sys.modules[__name__]
    name, title, title_plural = "maze", "maze", "mazes"
    default_size = 15
    generator_options = ("min_path", "loops", "style", "density")
    record_gap = "\n"  # text mazes: a blank line between two
    suffixes = (".txt", ".csv", ".maze")
    detect_order = 20
    solver = "the BFS shortest path"
    any_canvas = True
    min_rows = MIN_SIZE
    cell_separator = ""
    settles_on_halt = True  # a route may still shorten

    def vocab_size(self, rows: int) -> int:
        return len(CHARSET) + 1  # PAD and the five cell codes, whatever the side

    def sniff(self, text: str, suffix: str) -> bool:
        return _claims(text)

    def items(self, path: str | os.PathLike) -> list[Item]:
        return [self.item(m, f"maze {i}") for i, m in enumerate(load(path), 1)]

    def item(self, record: Maze, label: str = "") -> Item:
        return Item(record.grid, record.solution if record.solution is not None else self.answer(record.grid), label)

    def generate(self, count: int, *, seed: int, size: int, workers: int | None = None, progress=None,
                 loops: float | None = None, style: str | None = None, density: tuple[float, float] | None = None,
                 min_path: int | None = None) -> Iterator[Maze]:
        if loops is not None and not 0 <= loops <= 1:
            raise PuzzleError(f"--loops must be between 0 and 1, got {loops}")
        style = style or "dfs"
        if style == "hard" and loops is not None:
            raise PuzzleError("--loops applies to --style dfs; hard mazes have random walls (--density)")
        if style == "dfs" and density is not None:
            raise PuzzleError("--density applies to --style hard")
        loops = LOOP_FRACTION if loops is None else loops
        return iter_generate(count, seed=seed, size=size, min_path=min_path, loops=loops, style=style,
                             density=density or HARD_DENSITY, workers=workers, progress=progress)

    def generator_label(self, size: int, options: dict) -> str:
        return f"maze {size}x{size} {options.get('style') or 'dfs'}"

    def fits(self, rows: int, shape: tuple[int, ...], any_canvas: bool = False) -> bool:
        return rows >= max(shape) or any_canvas

    def encode(self, grid: np.ndarray, encoding: Encoding) -> np.ndarray:
        grid, size = np.asarray(grid), encoding.rows
        if grid.shape[0] > size or grid.shape[1] > size:
            raise PuzzleError(f"this model solves mazes up to {size}x{size}, the maze is {grid.shape}")
        return encode(pad_to(grid, size))

    def decode(self, tokens: np.ndarray, encoding: Encoding, shape: tuple[int, int]) -> np.ndarray:
        return decode(tokens, encoding.rows)[: shape[0], : shape[1]]

    def answer(self, question: np.ndarray) -> np.ndarray | None:
        try:
            path = shortest_path(question)
        except PuzzleError:  # no single S or G yet (a maze being drawn)
            return None
        return None if path is None else np.asarray(path, np.int8)

    def no_solution(self, question: np.ndarray, search: bool = True) -> str | None:
        question = np.asarray(question)
        starts, goals = int((question == START).sum()), int((question == GOAL).sum())
        if starts != 1 or goals != 1:
            return f"it needs one start and one goal (it has {starts} and {goals})"
        if shortest_path_length(question) is None:
            return "walls cut the start off from the goal (no route exists)"
        return None

    def is_valid(self, question: np.ndarray, grid: np.ndarray) -> bool:
        return grid.shape == question.shape and bool(is_valid_solution(question, grid))

    def given_mask(self, question: np.ndarray) -> np.ndarray:
        return np.asarray(question) != OPEN

    def nearest_answer(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> np.ndarray | None:
        """The shortest route sharing most cells with `grid`'s path: a maze needs no stored answer to be checked,
        and measuring against the one route a BFS labelled would mark a right route of another shape as wrong."""
        question, grid = np.asarray(question), np.asarray(grid)
        if grid.shape != question.shape or (question == START).sum() != 1 or (question == GOAL).sum() != 1:
            return expected
        base = np.where(question == PATH, OPEN, question)
        routes, ok = nearest_shortest_routes(base[None], np.where(grid == PATH, 1.0, -1.0)[None])
        return routes[0] if ok[0] else expected

    def rule_errors(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> np.ndarray:
        """Walls, start or goal changed, and where the answer is not a shortest route, the cells where it differs
        from the shortest route nearest to it."""
        question, grid = np.asarray(question), np.asarray(grid)
        if grid.shape != question.shape:
            return np.ones(grid.shape, bool)
        base = np.where(question == OPEN, -1, question)
        errors = (base >= 0) & (grid != base)  # walls/start/goal must stay; path only over open cells
        if not self.is_valid(question, grid):
            nearest = self.nearest_answer(question, grid, expected)
            if nearest is not None:
                errors |= (grid == PATH) != (nearest == PATH)
        return errors

    def judge(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> Judgement:
        """Any shortest route is a right answer, whichever one the BFS happened to find."""
        judgement = super().judge(question, grid, expected)
        if judgement.status == "different":
            return Judgement("solved", "A shortest route (the BFS found another of the same length).")
        return judgement

    def describe_mistakes(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> str:
        """In routes, not cells: off a shortest route, not connecting S to G, drawn over walls."""
        question, grid = np.asarray(question), np.asarray(grid)
        if grid.shape != question.shape:
            return f"The answer is {grid.shape[0]}x{grid.shape[1]}, the maze {question.shape[0]}x{question.shape[1]}"
        base = np.where(question == PATH, OPEN, question)
        path = grid == PATH
        parts = []
        over = int((path & (base != OPEN)).sum())
        moved = int((~path & (grid != base)).sum())
        if over:
            parts.append(f"path drawn over {plural(over, 'wall')} or the start / goal")
        if moved:
            parts.append(f"{plural(moved, 'wall, start or goal cell')} changed")
        along = (path | (base == START) | (base == GOAL))[None]  # S and G plus the marked cells, nothing else
        reaches = bool((wave_distances(along, (base == START)[None])[0][base == GOAL] >= 0).any())
        if not reaches:
            parts.append("path does not connect the start to the goal")
        route = on_shortest_route(base)
        if route is not None:
            on_route, shortest = route
            off = int((path & ~on_route).sum())
            extra = int(path.sum()) - (shortest - 1)
            if off:
                parts.append(f"path is not a shortest route: {plural(off, 'cell')} off it")
            elif reaches and extra:
                parts.append(f"path is not a shortest route: {plural(abs(extra), 'cell')} "
                             f"{'too many' if extra > 0 else 'too few'}")
        if not parts:
            return "Breaks the rules"
        text = "; ".join(parts)
        return text[0].upper() + text[1:]

    def cell_text(self, value: int) -> str:
        return CHARSET[value]

    def readable(self, grid: np.ndarray) -> list:
        return to_text(grid).splitlines()

    def style(self, question: np.ndarray) -> str | None:
        return style_of(question)

    def trained_style(self, dataset: dict) -> str | None:
        return str(dataset.get("maze_style", "dfs"))  # models from before Maze-Hard learnt corridor mazes

    def outside_training(self, dataset: dict, question: np.ndarray) -> str | None:
        size, (rows, cols) = dataset.get("size"), np.asarray(question).shape
        if isinstance(size, int) and max(rows, cols) > size:
            return f"was trained on {size}\u00d7{size} mazes; this one is {rows}\u00d7{cols}"
        return None

    def augment(self, rng: np.random.Generator, grids: list[np.ndarray]) -> list[np.ndarray]:
        ks = [int(rng.integers(8)) for _ in range(len(grids[0]))]
        return [np.stack([dihedral(g, k) for g, k in zip(batch, ks, strict=True)]) for batch in grids]

    def views(self, question: np.ndarray, count: int, rng: np.random.Generator) -> list[View]:
        """The 8 dihedral transforms in order (identity first), repeated when more trajectories are asked for
        (those differ only by noise)."""
        ks = [i % 8 for i in range(count)]
        return [View(DIHEDRAL_NAMES[k], lambda g, k=k: dihedral(g, k),
                     lambda g, _positions_only=False, k=k: inverse_dihedral(g, k)) for k in ks]

    def plausible(self, question: np.ndarray, grid: np.ndarray) -> bool:
        """One simple S-G route; whether it is a shortest one needs a search (between routes, the shorter wins)."""
        return route_length(question, grid) is not None

    def answer_cost(self, grid: np.ndarray) -> int:
        return int((np.asarray(grid) == PATH).sum())

    def why_chosen(self, plausible: int, cost: int, halt: float) -> str:
        return (f"the only route found ({cost + 1} steps)" if plausible == 1 else
                f"the shortest of {plausible} routes found ({cost + 1} steps)")


KIND = register(MazeKind())
