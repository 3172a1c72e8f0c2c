"""The Generate dialog: a Sudoku by size and number of givens, or a maze by size and style, from a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QStackedWidget,
    QWidget,
)


@dataclass
class GenerateRequest:
    kind: str  # "sudoku" | "maze"
    size: int
    clues: int  # Sudoku givens
    seed: int
    style: str = "dfs"  # mazes: "dfs" (a depth-first maze with a few loops) or "hard" (Maze-Hard's random walls)


def generate(req: GenerateRequest):
    """Run the puzzle core's generator (called in a worker thread); returns (grid, solution)."""
    if req.kind == "sudoku":
        from engine.puzzles import sudoku

        p = sudoku.generate(1, seed=req.seed, clues=(req.clues, req.clues), size=req.size, workers=1)[0]
        return p.givens, p.solution
    from engine.puzzles import maze

    m = maze.generate(1, seed=req.seed, size=req.size, style=req.style, workers=1)[0]
    return m.grid, m.solution


class GenerateDialog(QDialog):
    def __init__(self, kind: str = "sudoku", size: int = 9, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Generate a puzzle")
        self.kind = QComboBox()
        self.kind.addItems(["Sudoku", "Maze"])
        self.kind.setCurrentIndex(0 if kind != "maze" else 1)
        self.sudoku_size = QComboBox()
        self.sudoku_size.addItems(["9\u00d79", "6\u00d76", "4\u00d74"])
        self.sudoku_size.setCurrentIndex({9: 0, 6: 1, 4: 2}.get(size, 0))
        self.clues = QSpinBox()
        self.clues.setToolTip("Number of givens (fewer is harder)")
        self.sudoku_size.currentIndexChanged.connect(self._clue_range)
        self.maze_size = QSpinBox()
        self.maze_size.setRange(5, 30)
        self.maze_size.setValue(size if kind == "maze" else 15)
        self.maze_style = QComboBox()
        self.maze_style.addItems(["Maze (corridors, a few loops)", "Maze-Hard (random walls, long shortest path)"])
        self.maze_style.setToolTip("Maze-Hard: 30-50% of the cells are walls at random; S and G are at least "
                                   "111 steps apart at 30x30 (scaled by area for smaller sides), as in the TRM "
                                   "paper's benchmark")
        self.maze_style.currentIndexChanged.connect(self._maze_style_changed)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2_000_000_000)
        self.seed.setValue(random.randrange(1_000_000))
        self.seed.setToolTip("Same seed, same puzzle")

        sud = QWidget()
        f1 = QFormLayout(sud)
        f1.setContentsMargins(0, 0, 0, 0)
        f1.addRow("Size", self.sudoku_size)
        f1.addRow("Givens", self.clues)
        mz = QWidget()
        f2 = QFormLayout(mz)
        f2.setContentsMargins(0, 0, 0, 0)
        f2.addRow("Style", self.maze_style)
        f2.addRow("Size", self.maze_size)
        self.stack = QStackedWidget()
        self.stack.addWidget(sud)
        self.stack.addWidget(mz)
        self.kind.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.stack.setCurrentIndex(self.kind.currentIndex())
        self._clue_range()

        form = QFormLayout(self)
        form.addRow("Kind", self.kind)
        form.addRow(self.stack)
        form.addRow("Seed", self.seed)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _clue_range(self) -> None:
        n = (9, 6, 4)[self.sudoku_size.currentIndex()]
        lo, hi, default = {9: (22, 60, 30), 6: (10, 30, 16), 4: (4, 12, 8)}[n]
        self.clues.setRange(lo, hi)
        self.clues.setValue(default)

    def _maze_style_changed(self, index: int) -> None:
        if index == 1 and self.maze_size.value() < 20:
            self.maze_size.setValue(30)  # the benchmark's size; long paths need room

    def request(self) -> GenerateRequest:
        if self.kind.currentIndex() == 0:
            n = (9, 6, 4)[self.sudoku_size.currentIndex()]
            return GenerateRequest("sudoku", n, self.clues.value(), self.seed.value())
        style = ("dfs", "hard")[self.maze_style.currentIndex()]
        return GenerateRequest("maze", self.maze_size.value(), 0, self.seed.value(), style)
