"""Maze editor: drag to paint walls or open cells, place Start and Goal, resize, generate, show the BFS path."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from engine.puzzles import maze
from trm_lab.session import LabError, MazeDocument
from trm_lab.widgets.grid_editor import GridEditor
from trm_lab.widgets.grid_view import GridView

TOOLS = (("Wall", maze.WALL, "W", "Paint walls (drag)"), ("Open", maze.OPEN, "O", "Paint open cells (drag)"),
         ("Start", maze.START, "S", "Place the start"), ("Goal", maze.GOAL, "G", "Place the goal"))


class MazeEditor(GridEditor):
    generateRequested = Signal(int)  # size
    errorRaised = Signal(str)

    def __init__(self, doc: MazeDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.tool = maze.WALL
        self._stroke_code = maze.WALL
        self.view = GridView("maze", interactive=True, min_cell=6, max_cell=36)
        self.view.setToolTip("Left-drag paints with the current tool; right-drag paints open cells.")
        self.view.cellPressed.connect(self._on_press)
        self.view.cellDragged.connect(self._on_drag)
        self.view.released.connect(self._on_release)

        tools = QHBoxLayout()
        self.tool_buttons: dict[int, QToolButton] = {}
        group = QButtonGroup(self)
        for name, code, key, tip in TOOLS:
            b = QToolButton()
            b.setText(name)
            b.setCheckable(True)
            b.setToolTip(f"{tip} ({key})")
            b.setShortcut(key)
            b.clicked.connect(lambda _=False, code=code: self.set_tool(code))
            group.addButton(b)
            tools.addWidget(b)
            self.tool_buttons[code] = b
        self.tool_buttons[maze.WALL].setChecked(True)
        tools.addSpacing(12)
        self.show_path = QCheckBox("Shortest path")
        self.show_path.setToolTip("Show the BFS shortest path from S to G")
        self.show_path.toggled.connect(self.refresh)
        tools.addWidget(self.show_path)
        tools.addStretch(1)

        size_row = QHBoxLayout()
        self.rows = QSpinBox()
        self.cols = QSpinBox()
        for s in (self.rows, self.cols):
            s.setRange(3, 60)
        self.rows.setToolTip("Rows")
        self.cols.setToolTip("Columns")
        resize = QPushButton("Resize")
        resize.setToolTip("Resize the maze (new cells are walls)")
        resize.clicked.connect(self._on_resize)
        gen = QPushButton("Generate")
        gen.setToolTip("Generate a random maze of this size (square: rows)")
        gen.clicked.connect(lambda: self.generateRequested.emit(self.rows.value()))
        size_row.addWidget(QLabel("Size"))
        size_row.addWidget(self.rows)
        size_row.addWidget(QLabel("\u00d7"))
        size_row.addWidget(self.cols)
        size_row.addWidget(resize)
        size_row.addWidget(gen)
        size_row.addStretch(1)
        self.lay_out(tools, size_row)

    def set_tool(self, code: int) -> None:
        self.tool = code
        self.tool_buttons[code].setChecked(True)

    def refresh(self) -> None:
        grid = self.doc.grid
        self.rows.setValue(grid.shape[0])
        self.cols.setValue(grid.shape[1])
        path = None
        msg = f"{grid.shape[0]} \u00d7 {grid.shape[1]}"
        if self.show_path.isChecked():
            solved = self.doc.shortest_path()
            if solved is None:
                msg += " \u2014 no path from S to G"
            else:
                path = solved == 4
                msg += f" \u2014 shortest path: {int(path.sum()) + 1} moves"
        self.view.set_grid(grid, path=path)
        self.status.setText(msg)

    def _on_press(self, r: int, c: int, button) -> None:
        code = maze.OPEN if button == Qt.MouseButton.RightButton else self.tool
        self._stroke_code = code
        if code in (maze.START, maze.GOAL):
            self.doc.paint([(r, c)], code)
            return
        self.doc.begin_group("Paint walls" if code == maze.WALL else "Paint open")
        self.doc.paint([(r, c)], code)

    def _on_drag(self, r: int, c: int) -> None:
        if self._stroke_code in (maze.WALL, maze.OPEN) and self.doc.grid[r, c] not in (maze.START, maze.GOAL):
            self.doc.paint([(r, c)], self._stroke_code)

    def _on_release(self) -> None:
        self.doc.end_group()

    def _on_resize(self) -> None:
        try:
            self.doc.resize(self.rows.value(), self.cols.value())
        except LabError as exc:
            self.errorRaised.emit(str(exc))

    def path_mask(self) -> np.ndarray | None:
        return self.view.path
