"""What the Sudoku and maze editors share: header rows over the document's grid view, a muted status line under it,
and a refresh whenever the document's content changes."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QLayout, QVBoxLayout, QWidget


class GridEditor(QWidget):
    """A subclass builds `self.doc`, `self.view` and its header rows, calls `lay_out(*rows)` and implements
    `refresh()`."""

    def lay_out(self, *rows: QLayout) -> None:
        self.status = QLabel()
        self.status.setProperty("role", "muted")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for row in rows:
            lay.addLayout(row)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.status)
        self.doc.subscribe(self._on_doc)
        self.refresh()

    def _on_doc(self, what: str) -> None:
        if what == "content":
            self.refresh()

    def refresh(self) -> None:
        raise NotImplementedError
