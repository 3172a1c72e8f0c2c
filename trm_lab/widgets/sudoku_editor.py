"""Sudoku editor: click or arrow keys to move, 1-9 to set, Delete/Backspace/0 to clear; clashes marked as you type."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QWidget

from trm_lab.session import SudokuDocument
from trm_lab.widgets.grid_editor import GridEditor
from trm_lab.widgets.grid_view import GridView

MOVES = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}
CLEAR_KEYS = {Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_0, Qt.Key.Key_Space}


class SudokuEditor(GridEditor):
    def __init__(self, doc: SudokuDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.view = GridView("sudoku", interactive=True)
        self.view.setToolTip("Click a cell or use the arrow keys; type 1-9 to set, Delete/Backspace/0 to clear.")
        self.view.cursor = (0, 0)
        self.view.cellPressed.connect(self._on_press)
        self.view.keyPressed.connect(self._on_key)

        self.mode_givens = QRadioButton("Edit puzzle")
        self.mode_givens.setToolTip("Typing sets the puzzle's givens (bold)")
        self.mode_play = QRadioButton("Play")
        self.mode_play.setToolTip("Typing sets your own entries (blue); givens stay locked")
        group = QButtonGroup(self)
        group.addButton(self.mode_givens)
        group.addButton(self.mode_play)
        (self.mode_givens if doc.mode == "givens" else self.mode_play).setChecked(True)
        self.mode_givens.toggled.connect(self._on_mode)

        top = QHBoxLayout()
        top.addWidget(QLabel(f"Sudoku {doc.size}\u00d7{doc.size}"))
        top.addStretch(1)
        top.addWidget(self.mode_givens)
        top.addWidget(self.mode_play)
        self.lay_out(top)

    def _on_mode(self, givens: bool) -> None:
        self.doc.mode = "givens" if givens else "play"
        self.refresh()

    def refresh(self) -> None:
        doc = self.doc
        conflicts = doc.conflicts()
        self.view.set_grid(doc.combined(), givens=doc.givens > 0, entries=doc.entries > 0, errors=conflicts)
        filled = int((doc.combined() > 0).sum())
        n_conf = int(conflicts.sum())
        msg = f"{int((doc.givens > 0).sum())} givens, {filled} of {doc.size * doc.size} cells filled"
        if n_conf:
            msg += f" \u2014 {n_conf} cells clash"
        self.status.setText(msg)

    def _on_press(self, r: int, c: int, button) -> None:
        self.view.set_cursor((r, c))

    def _on_key(self, event) -> None:
        key = event.key()
        r, c = self.view.cursor or (0, 0)
        n = self.doc.size
        if key in MOVES:
            dr, dc = MOVES[key]
            self.view.set_cursor(((r + dr) % n, (c + dc) % n))
        elif key in CLEAR_KEYS:
            self.doc.set_cell(r, c, 0)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and not event.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        ):
            value = key - Qt.Key.Key_0
            if value <= n and not self.doc.set_cell(r, c, value):
                self.status.setText("That cell is a given; switch to \u201cEdit puzzle\u201d to change it.")
        else:
            event.ignore()
            return
        event.accept()
