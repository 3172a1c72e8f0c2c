"""Seeded puzzle generation for training data: a puzzle is a pure function of its seed, so a resumed run, every DDP
rank and the data worker all see the same puzzles. Thin wrappers over engine.puzzles' generators, returning the
(question, answer) int8 grids the datasets stack."""

from __future__ import annotations

import numpy as np


def _seq(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def generate_sudoku(seed: int | np.random.SeedSequence, size: int = 9, clues: tuple[int, int] = (28, 50)):
    """One unique-solution Sudoku with a givens count in `clues`: (givens, solution)."""
    from engine.puzzles import sudoku

    puzzle = sudoku.generate_one(_seq(seed), (int(clues[0]), int(clues[1])), size)
    return puzzle.givens.astype(np.int8), puzzle.solution.astype(np.int8)


def generate_maze(seed: int | np.random.SeedSequence, size: int = 15, loops: float | None = None,
                  min_path: int | None = None, style: str = "dfs", density: tuple[float, float] | None = None):
    """One maze: (grid, solution with the path). "dfs": S and G far apart, loops that keep the shortest path long;
    "hard": Maze-Hard's random walls."""
    from engine.puzzles import maze

    if style == "hard":
        m = maze.generate_hard_one(_seq(seed), size, min_path, tuple(density or maze.HARD_DENSITY))
    else:
        m = maze.generate_one(_seq(seed), size, min_path, loop_fraction=maze.LOOP_FRACTION if loops is None else loops)
    return m.grid.astype(np.int8), m.solution.astype(np.int8)
