"""One widget that draws any puzzle grid (Sudoku digits, maze cells, ARC colours) with the lab's overlays.

Overlays: givens vs entries vs predictions, per-cell confidence shading, cells changed since the previous step
(outlined), rule errors (marked), a cursor, a rectangular selection and a path. Mouse and key input is turned into
cell-level signals; the editors decide what an action means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.puzzles.sudoku_solver import BOXES
from trm_lab import theme

DIFFERS_COLOUR = "#d946ef"  # distinct from the accent, changed and error colours in both themes


@dataclass(frozen=True)
class Look:
    """How one kind's grid is painted: the window's half of a puzzle kind (colours are Qt's business, not the
    engine's). `digits`: values are written as digits in plain cells, an unsure cell is shaded amber, a wrong one
    flagged in its corner, and the grid has box lines; otherwise values are colours, an unsure cell is washed out
    and a wrong one crossed."""

    empty: tuple[int, int] = (3, 3)  # the grid shown before one is set
    fill: Callable[[theme.Theme, int], str] = lambda t, _value: t.base
    line: Callable[[theme.Theme], str] = lambda t: t.grid_line
    min_line_cell: float = 0.0  # narrower cells draw no grid lines (a large maze reads better without)
    digits: bool = False


def _maze_fill(t: theme.Theme, value: int) -> str:
    """Wall, open, start, goal, path: engine.puzzles.maze's cell codes 0-4."""
    fills = (t.maze_wall, t.maze_open, t.maze_start, t.maze_goal, t.maze_path)
    return fills[value] if 0 <= value < len(fills) else t.maze_open


LOOKS = {
    "sudoku": Look(empty=(9, 9), digits=True),
    "maze": Look(fill=_maze_fill, min_line_cell=10),
    "arc": Look(fill=lambda _t, v: theme.ARC_COLORS[v % 10], line=lambda _t: "#555555"),
}


class GridView(QWidget):
    cellPressed = Signal(int, int, object)  # row, col, Qt.MouseButton
    cellDragged = Signal(int, int)  # row, col while a button is held
    released = Signal()
    keyPressed = Signal(object)  # QKeyEvent

    def __init__(self, kind: str, parent: QWidget | None = None, *, interactive: bool = False, min_cell: int = 14,
                 max_cell: int = 56):
        super().__init__(parent)
        self.kind = kind
        self.look = LOOKS.get(kind, Look())
        self.grid = np.zeros(self.look.empty, np.int8)
        self.givens: np.ndarray | None = None  # bool mask: cells fixed by the puzzle
        self.entries: np.ndarray | None = None  # bool mask: the user's own entries (Sudoku)
        self.predicted = False  # True: non-given cells are model predictions
        self.confidence: np.ndarray | None = None
        self.changed: np.ndarray | None = None
        self.errors: np.ndarray | None = None
        self.differs: np.ndarray | None = None  # bool mask: another model answers these cells differently
        self.path: np.ndarray | None = None  # bool mask drawn as dots (maze BFS path)
        self.cursor: tuple[int, int] | None = None
        self.selection: tuple[int, int, int, int] | None = None  # r0, c0, r1, c1 inclusive
        self.placeholder = ""
        self.stale = ""  # non-empty: the grid no longer answers the puzzle; drawn veiled, with this text
        self.min_cell, self.max_cell = min_cell, max_cell
        self._dragging = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # we paint every pixel ourselves, so an update never repaints the panels underneath
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMouseTracking(False)
        if interactive:
            self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- data -------------------------------------------------------------------------------------------------
    def set_grid(self, grid: np.ndarray, **overlays) -> None:
        """Replace the grid; keyword overlays (givens, entries, confidence, changed, errors, differs, path,
        predicted)."""
        self.grid = np.asarray(grid)
        for name in ("givens", "entries", "confidence", "changed", "errors", "differs", "path"):
            value = overlays.get(name)
            if value is not None and np.asarray(value).shape != self.grid.shape:
                value = None  # a stale overlay of another shape is dropped rather than mis-drawn
            setattr(self, name, None if value is None else np.asarray(value))
        self.predicted = bool(overlays.get("predicted", False))
        if self.cursor and not (self.cursor[0] < self.grid.shape[0] and self.cursor[1] < self.grid.shape[1]):
            self.cursor = (0, 0)
        self.updateGeometry()
        self.update()

    def set_cursor(self, cell: tuple[int, int] | None) -> None:
        self.cursor = cell
        self.update()

    def set_selection(self, sel: tuple[int, int, int, int] | None) -> None:
        self.selection = sel
        self.update()

    # -- geometry ---------------------------------------------------------------------------------------------
    def _layout(self) -> tuple[float, float, float]:
        rows, cols = self.grid.shape
        cell = min((self.width() - 2) / max(cols, 1), (self.height() - 2) / max(rows, 1), self.max_cell * 3)
        cell = max(cell, 2.0)
        x0 = (self.width() - cell * cols) / 2
        y0 = (self.height() - cell * rows) / 2
        return cell, x0, y0

    def sizeHint(self) -> QSize:
        rows, cols = self.grid.shape
        cell = max(self.min_cell, min(self.max_cell, 420 // max(rows, cols, 1)))
        return QSize(int(cell * cols) + 2, int(cell * rows) + 2)

    def minimumSizeHint(self) -> QSize:
        rows, cols = self.grid.shape
        cell = min(self.min_cell, max(6, 240 // max(rows, cols, 1)))
        return QSize(int(cell * cols) + 2, int(cell * rows) + 2)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        cell, x0, y0 = self._layout()
        c = int((pos.x() - x0) // cell)
        r = int((pos.y() - y0) // cell)
        if 0 <= r < self.grid.shape[0] and 0 <= c < self.grid.shape[1]:
            return r, c
        return None

    def cell_rect(self, r: int, c: int) -> QRectF:
        cell, x0, y0 = self._layout()
        return QRectF(x0 + c * cell, y0 + r * cell, cell, cell)

    def cell_center(self, r: int, c: int) -> QPointF:
        return self.cell_rect(r, c).center()

    # -- input ------------------------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        hit = self.cell_at(event.position())
        if self.focusPolicy() != Qt.FocusPolicy.NoFocus:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        if hit is not None:
            self._dragging = True
            self.cellPressed.emit(hit[0], hit[1], event.button())

    def mouseMoveEvent(self, event) -> None:
        if self._dragging:
            hit = self.cell_at(event.position())
            if hit is not None:
                self.cellDragged.emit(*hit)

    def mouseReleaseEvent(self, event) -> None:
        if self._dragging:
            self._dragging = False
            self.released.emit()

    def keyPressEvent(self, event) -> None:
        self.keyPressed.emit(event)
        if not event.isAccepted():
            super().keyPressEvent(event)

    # -- painting ---------------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        rows, cols = self.grid.shape
        cell, x0, y0 = self._layout()
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()))
        if self.placeholder:
            p.setPen(QColor(t.muted))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        # cells
        p.setPen(Qt.PenStyle.NoPen)
        for r in range(rows):
            for c in range(cols):
                rect = QRectF(x0 + c * cell, y0 + r * cell, cell + 0.5, cell + 0.5)
                p.fillRect(rect, QColor(self.look.fill(t, int(self.grid[r, c]))))
        self._paint_confidence(p, cell, x0, y0)
        self._paint_grid_lines(p, cell, x0, y0)
        if self.look.digits:
            self._paint_digits(p, cell, x0, y0)
        if self.path is not None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(t.maze_path))
            for r, c in zip(*np.nonzero(self.path), strict=True):
                if self.grid[r, c] in (0, 1, 4):
                    p.drawEllipse(self.cell_center(int(r), int(c)), cell * 0.22, cell * 0.22)
        self._paint_marks(p, cell, x0, y0)
        if self.stale:
            veil = QColor(t.base)
            veil.setAlphaF(0.72)
            p.fillRect(self.rect(), veil)
            p.setPen(QColor(t.text))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.stale)
        p.end()

    def set_stale(self, text: str) -> None:
        if text != self.stale:
            self.stale = text
            self.update()

    def _paint_confidence(self, p: QPainter, cell: float, x0: float, y0: float) -> None:
        if self.confidence is None:
            return
        t = theme.current()
        conf = np.clip(self.confidence, 0.0, 1.0)
        for r, c in zip(*np.nonzero(conf < 0.995), strict=True):
            if self.givens is not None and self.givens[r, c]:
                continue
            unsure = 1.0 - float(conf[r, c])
            if self.look.digits:
                colour = QColor(t.unsure)
                colour.setAlphaF(min(0.85, 0.15 + 0.8 * unsure))
            else:  # a grey veil over colours: the less sure, the more washed out
                colour = QColor(t.base)
                colour.setAlphaF(min(0.75, 0.1 + 0.7 * unsure))
            p.fillRect(QRectF(x0 + c * cell, y0 + r * cell, cell, cell), colour)

    def _paint_grid_lines(self, p: QPainter, cell: float, x0: float, y0: float) -> None:
        t = theme.current()
        rows, cols = self.grid.shape
        if cell >= self.look.min_line_cell:
            p.setPen(QPen(QColor(self.look.line(t)), 1))
            for r in range(rows + 1):
                p.drawLine(QPointF(x0, y0 + r * cell), QPointF(x0 + cols * cell, y0 + r * cell))
            for c in range(cols + 1):
                p.drawLine(QPointF(x0 + c * cell, y0), QPointF(x0 + c * cell, y0 + rows * cell))
        if self.look.digits and rows in BOXES:
            br, bc = BOXES[rows]
            p.setPen(QPen(QColor(t.box_line), max(2.0, cell / 18)))
            for r in range(0, rows + 1, br):
                p.drawLine(QPointF(x0, y0 + r * cell), QPointF(x0 + cols * cell, y0 + r * cell))
            for c in range(0, cols + 1, bc):
                p.drawLine(QPointF(x0 + c * cell, y0), QPointF(x0 + c * cell, y0 + rows * cell))

    def _paint_digits(self, p: QPainter, cell: float, x0: float, y0: float) -> None:
        t = theme.current()
        font = QFont(self.font())
        font.setPixelSize(max(7, int(cell * 0.58)))
        bold = QFont(font)
        bold.setWeight(QFont.Weight.Bold)
        rows, cols = self.grid.shape
        for r in range(rows):
            for c in range(cols):
                v = int(self.grid[r, c])
                if v <= 0:
                    continue
                given = self.givens is not None and bool(self.givens[r, c])
                if self.errors is not None and self.errors[r, c] and not given:
                    colour = t.error
                elif given:
                    colour = t.given_text
                elif self.predicted:
                    colour = t.predicted_text
                else:
                    colour = t.entry_text
                p.setFont(bold if given else font)
                p.setPen(QColor(colour))
                p.drawText(QRectF(x0 + c * cell, y0 + r * cell, cell, cell), Qt.AlignmentFlag.AlignCenter, str(v))

    def _paint_marks(self, p: QPainter, cell: float, x0: float, y0: float) -> None:
        t = theme.current()
        inset = max(1.5, cell * 0.08)
        if self.changed is not None:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(t.changed), max(1.5, cell * 0.09)))
            for r, c in zip(*np.nonzero(self.changed), strict=True):
                p.drawRoundedRect(self.cell_rect(int(r), int(c)).adjusted(inset, inset, -inset, -inset), 3, 3)
        if self.errors is not None:
            err = QColor(t.error)
            for r, c in zip(*np.nonzero(self.errors), strict=True):
                rect = self.cell_rect(int(r), int(c))
                if self.look.digits:
                    # a red corner flag (the digit itself turns red too)
                    s = cell * 0.28
                    p.setPen(Qt.PenStyle.NoPen)
                    p.setBrush(err)
                    p.drawPolygon([rect.topRight(), rect.topRight() + QPointF(-s, 0), rect.topRight() + QPointF(0, s)])
                else:
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    p.setPen(QPen(QColor("#ffffff"), max(2.5, cell * 0.14)))
                    a = rect.adjusted(cell * 0.28, cell * 0.28, -cell * 0.28, -cell * 0.28)
                    p.drawLine(a.topLeft(), a.bottomRight())
                    p.drawLine(a.topRight(), a.bottomLeft())
                    p.setPen(QPen(err, max(1.5, cell * 0.08)))
                    p.drawLine(a.topLeft(), a.bottomRight())
                    p.drawLine(a.topRight(), a.bottomLeft())
        if self.differs is not None:  # a magenta corner bottom-left: the compared model says something else here
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(DIFFERS_COLOUR))
            s = cell * 0.32
            for r, c in zip(*np.nonzero(self.differs), strict=True):
                corner = self.cell_rect(int(r), int(c)).bottomLeft()
                p.drawPolygon([corner, corner + QPointF(s, 0), corner + QPointF(0, -s)])
        if self.selection is not None:
            r0, c0, r1, c1 = self.selection
            rect = self.cell_rect(min(r0, r1), min(c0, c1)).united(self.cell_rect(max(r0, r1), max(c0, c1)))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor("#ffffff"), 3))
            p.drawRect(rect)
            p.setPen(QPen(QColor(t.accent), 2, Qt.PenStyle.DashLine))
            p.drawRect(rect)
        if self.cursor is not None and self.hasFocus():
            r, c = self.cursor
            rect = self.cell_rect(r, c)
            fill = QColor(t.accent)
            fill.setAlphaF(0.14)
            p.fillRect(rect, fill)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(t.accent), max(2.0, cell * 0.07)))
            p.drawRect(rect.adjusted(1, 1, -1, -1))
