"""Puzzle generation for training data: unique-solution Sudoku (4x4, 6x6, 9x9) and mazes with BFS shortest paths.

The trainers need generators that are seeded (a puzzle is a pure function of its seed, so a resumed run sees the same
data) and fast enough to run in a background worker. Grids use the engine's cell codes: Sudoku 0 = blank, digits
1..n; maze 0 wall, 1 open, 2 start, 3 goal, 4 path.
"""

from __future__ import annotations

from collections import deque

import numpy as np

BOX_SHAPES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # (box rows, box cols)


def box_shape(size: int) -> tuple[int, int]:
    if size not in BOX_SHAPES:
        raise ValueError(f"Sudoku size must be one of {sorted(BOX_SHAPES)}, not {size}")
    return BOX_SHAPES[size]


class _Solver:
    """Bitmask backtracking with the most-constrained-cell heuristic; counts solutions up to a limit."""

    def __init__(self, size: int):
        self.n = size
        br, bc = box_shape(size)
        self.full = sum(1 << d for d in range(1, size + 1))
        self.unit = [(r, c, (r // br) * (size // bc) + c // bc) for r in range(size) for c in range(size)]

    def count(self, cells: list[int], limit: int = 2, rng: np.random.Generator | None = None):
        n = self.n
        rows, cols, boxes = [0] * n, [0] * n, [0] * n
        for i, v in enumerate(cells):
            if v:
                r, c, b = self.unit[i]
                bit = 1 << v
                if (rows[r] | cols[c] | boxes[b]) & bit:
                    return 0, None
                rows[r] |= bit
                cols[c] |= bit
                boxes[b] |= bit
        grid = list(cells)
        empties = [i for i, v in enumerate(cells) if not v]
        found: list = [0, None]
        unit, full = self.unit, self.full

        def rec() -> None:
            best, best_mask, best_cnt = -1, 0, 99
            for i in empties:
                if grid[i]:
                    continue
                r, c, b = unit[i]
                m = full & ~(rows[r] | cols[c] | boxes[b])
                cnt = m.bit_count()
                if cnt < best_cnt:
                    best, best_mask, best_cnt = i, m, cnt
                    if cnt <= 1:
                        break
            if best < 0:
                found[0] += 1
                if found[1] is None:
                    found[1] = list(grid)
                return
            if best_cnt == 0:
                return
            digits = [d for d in range(1, n + 1) if best_mask >> d & 1]
            if rng is not None:
                rng.shuffle(digits)
            r, c, b = unit[best]
            for d in digits:
                bit = 1 << d
                grid[best] = d
                rows[r] |= bit
                cols[c] |= bit
                boxes[b] |= bit
                rec()
                rows[r] &= ~bit
                cols[c] &= ~bit
                boxes[b] &= ~bit
                grid[best] = 0
                if found[0] >= limit:
                    return

        rec()
        return found[0], found[1]


def sudoku_count_solutions(givens: np.ndarray, limit: int = 2) -> int:
    """Number of solutions of a Sudoku grid, capped at `limit`."""
    n = givens.shape[0]
    return _Solver(n).count([int(v) for v in givens.reshape(-1)], limit)[0]


def generate_sudoku(seed: int | np.random.SeedSequence, size: int = 9, clues: tuple[int, int] = (28, 50)):
    """One unique-solution Sudoku with a givens count in `clues`, a pure function of `seed` (engine.puzzles.sudoku's
    generator). Returns (givens, solution) int8 grids."""
    from engine.puzzles import sudoku

    if not isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(seed)
    puzzle = sudoku.generate_one(seed, (int(clues[0]), int(clues[1])), size)
    return puzzle.givens.astype(np.int8), puzzle.solution.astype(np.int8)


# ---- mazes --------------------------------------------------------------------------------------------------------
WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4


def bfs_path(grid: np.ndarray) -> np.ndarray | None:
    """The grid with one shortest S-G path marked PATH (S and G kept), or None if G is unreachable."""
    h, w = grid.shape
    start = tuple(np.argwhere(grid == START)[0])
    goal = tuple(np.argwhere(grid == GOAL)[0])
    prev = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == goal:
            break
        r, c = cur
        for nxt in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nxt[0] < h and 0 <= nxt[1] < w and grid[nxt] != WALL and nxt not in prev:
                prev[nxt] = cur
                queue.append(nxt)
    if goal not in prev:
        return None
    out = grid.copy()
    cur = prev[goal]
    while cur is not None and cur != start:
        out[cur] = PATH
        cur = prev[cur]
    return out


def generate_maze(seed: int | np.random.SeedSequence, size: int = 15, loops: float = 0.1, min_path: int | None = None):
    """A size x size maze: a random spanning tree carved on the odd cells (border walls), a fraction `loops` of the
    remaining inner walls knocked out (so shortest paths matter), start and goal on random open cells at least
    `min_path` apart (default size). Returns (grid, solution) int8 grids."""
    rng = np.random.default_rng(seed)
    grid = np.full((size, size), WALL, dtype=np.int8)
    cells = [(r, c) for r in range(1, size - 1, 2) for c in range(1, size - 1, 2)]
    start = cells[int(rng.integers(len(cells)))]
    grid[start] = OPEN
    stack = [start]
    while stack:
        r, c = stack[-1]
        nbrs = [(r + dr, c + dc) for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))
                if 0 < r + dr < size - 1 and 0 < c + dc < size - 1 and grid[r + dr, c + dc] == WALL]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = nbrs[int(rng.integers(len(nbrs)))]
        grid[(r + nr) // 2, (c + nc) // 2] = OPEN
        grid[nr, nc] = OPEN
        stack.append((nr, nc))
    inner = np.argwhere(grid[1:-1, 1:-1] == WALL) + 1
    knock = rng.random(len(inner)) < loops
    for r, c in inner[knock]:
        # only walls between two open cells in a line, so rooms don't appear
        if (grid[r - 1, c] and grid[r + 1, c] and not grid[r, c - 1] and not grid[r, c + 1]) or (
            grid[r, c - 1] and grid[r, c + 1] and not grid[r - 1, c] and not grid[r + 1, c]
        ):
            grid[r, c] = OPEN
    open_cells = np.argwhere(grid == OPEN)
    need = size if min_path is None else min_path
    for _ in range(100):
        a, b = open_cells[rng.choice(len(open_cells), 2, replace=False)]
        if abs(a[0] - b[0]) + abs(a[1] - b[1]) >= need:
            break
    grid[tuple(a)] = START
    grid[tuple(b)] = GOAL
    solution = bfs_path(grid)
    assert solution is not None  # a spanning tree connects every open cell
    return grid, solution
