"""The Generate dialog: a Sudoku by size and number of givens, or a maze by size and style, from a seed.

Each kind that generates has a page of its own options (`PAGES`, by kind name); the engine's generator does the rest
(`PuzzleKind.generate`)."""

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

from engine.puzzles.kind import get_kind


@dataclass
class GenerateRequest:
    kind: str  # "sudoku" | "maze"
    size: int
    clues: int  # Sudoku givens
    seed: int
    style: str = "dfs"  # mazes: "dfs" (a depth-first maze with a few loops) or "hard" (Maze-Hard's random walls)

    def options(self) -> dict:
        """The generator options of the request's kind (engine.puzzles.kind.PuzzleKind.generator_options)."""
        every = {"clues": (self.clues, self.clues), "style": self.style}
        return {name: value for name, value in every.items() if name in get_kind(self.kind).generator_options}


def generate(req: GenerateRequest):
    """Run the puzzle core's generator (called in a worker thread); returns (grid, solution)."""
    kind = get_kind(req.kind)
    record = next(iter(kind.generate(1, seed=req.seed, size=req.size, workers=1, **req.options())))
    item = kind.item(record)
    return item.question, item.expected


class SudokuPage(QWidget):
    """Size and givens."""

    kind, title = "sudoku", "Sudoku"

    def __init__(self, size: int):
        super().__init__()
        self.size = QComboBox()
        self.size.addItems(["9\u00d79", "6\u00d76", "4\u00d74"])
        self.size.setCurrentIndex({9: 0, 6: 1, 4: 2}.get(size, 0))
        self.clues = QSpinBox()
        self.clues.setToolTip("Number of givens (fewer is harder)")
        self.size.currentIndexChanged.connect(self._clue_range)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Size", self.size)
        form.addRow("Givens", self.clues)
        self._clue_range()

    def side(self) -> int:
        return (9, 6, 4)[self.size.currentIndex()]

    def _clue_range(self) -> None:
        lo, hi, default = {9: (22, 60, 30), 6: (10, 30, 16), 4: (4, 12, 8)}[self.side()]
        self.clues.setRange(lo, hi)
        self.clues.setValue(default)

    def request(self, seed: int) -> GenerateRequest:
        return GenerateRequest(self.kind, self.side(), self.clues.value(), seed)


class MazePage(QWidget):
    """Style and size."""

    kind, title = "maze", "Maze"

    def __init__(self, size: int):
        super().__init__()
        self.size = QSpinBox()
        self.size.setRange(5, 30)
        self.size.setValue(size)
        self.style = QComboBox()
        self.style.addItems(["Maze (corridors, a few loops)", "Maze-Hard (random walls, long shortest path)"])
        self.style.setToolTip("Maze-Hard: 30-50% of the cells are walls at random; S and G are at least "
                              "111 steps apart at 30x30 (scaled by area for smaller sides), as in the TRM "
                              "paper's benchmark")
        self.style.currentIndexChanged.connect(self._style_changed)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Style", self.style)
        form.addRow("Size", self.size)

    def _style_changed(self, index: int) -> None:
        if index == 1 and self.size.value() < 20:
            self.size.setValue(30)  # the benchmark's size; long paths need room

    def request(self, seed: int) -> GenerateRequest:
        return GenerateRequest(self.kind, self.size.value(), 0, seed, ("dfs", "hard")[self.style.currentIndex()])


PAGES = {page.kind: page for page in (SudokuPage, MazePage)}  # the options of each kind that generates


class GenerateDialog(QDialog):
    def __init__(self, kind: str = "sudoku", size: int = 9, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Generate a puzzle")
        kind = kind if kind in PAGES else next(iter(PAGES))
        self.pages = {name: page(size if name == kind else get_kind(name).default_size)
                      for name, page in PAGES.items()}
        self.kind = QComboBox()
        self.stack = QStackedWidget()
        for page in self.pages.values():
            self.kind.addItem(page.title)
            self.stack.addWidget(page)
        self.kind.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.kind.setCurrentIndex(list(self.pages).index(kind))
        self.stack.setCurrentIndex(self.kind.currentIndex())
        self.seed = QSpinBox()
        self.seed.setRange(0, 2_000_000_000)
        self.seed.setValue(random.randrange(1_000_000))
        self.seed.setToolTip("Same seed, same puzzle")

        form = QFormLayout(self)
        form.addRow("Kind", self.kind)
        form.addRow(self.stack)
        form.addRow("Seed", self.seed)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        _align_labels([form, *(page.layout() for page in self.pages.values())])

    def request(self) -> GenerateRequest:
        return self.stack.currentWidget().request(self.seed.value())


def _align_labels(forms: list[QFormLayout]) -> None:
    """One label column for the dialog's form and the pages nested in it (each page is a form of its own, so a
    longer label such as "Givens" would otherwise push its fields out of line with Kind and Seed)."""
    labels = [form.itemAt(row, QFormLayout.ItemRole.LabelRole) for form in forms for row in range(form.rowCount())]
    widgets = [item.widget() for item in labels if item is not None and item.widget() is not None]
    width = max(w.sizeHint().width() for w in widgets)
    for w in widgets:
        w.setMinimumWidth(width)
