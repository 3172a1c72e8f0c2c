"""Browse the bundled ARC-AGI-1 / ARC-AGI-2 tasks (via engine.puzzles.arc.bundled_tasks), search by task id, open one.

The corpus is parsed in a worker thread the first time it is shown; a preview shows the first example pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from trm_lab.widgets.grid_view import GridView
from trm_lab.workers import run_async

CORPORA = (("ARC-AGI-1 training", "arc1", "train"), ("ARC-AGI-1 evaluation", "arc1", "eval"),
           ("ARC-AGI-2 training", "arc2", "train"), ("ARC-AGI-2 evaluation", "arc2", "eval"))


def _load(corpus: str, split: str) -> dict[str, Any]:
    from engine.puzzles import arc

    return arc.bundled_tasks(corpus, split)


class ArcBrowser(QWidget):
    taskChosen = Signal(object)  # ArcTask
    errorRaised = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tasks: dict[str, Any] = {}
        self._loading: tuple[str, str] | None = None
        self.corpus = QComboBox()
        for label, _, _ in CORPORA:
            self.corpus.addItem(label)
        self.corpus.setToolTip("Which bundled ARC corpus to browse")
        self.corpus.currentIndexChanged.connect(self.load_corpus)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search task id\u2026")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._open_first)
        self.list = QListWidget()
        self.list.setToolTip("Double-click (or Enter) to open the task")
        self.list.itemActivated.connect(self._open_item)
        self.list.currentItemChanged.connect(self._preview)
        self.count = QLabel("")
        self.count.setProperty("role", "muted")
        self.preview_in = GridView("arc", min_cell=3, max_cell=10)
        self.preview_out = GridView("arc", min_cell=3, max_cell=10)
        for v in (self.preview_in, self.preview_out):
            v.setFixedHeight(110)
        self.open_button = QPushButton("Open task")
        self.open_button.clicked.connect(self._open_current)
        prev = QHBoxLayout()
        prev.addWidget(self.preview_in)
        arrow = QLabel("\u2192")
        arrow.setAlignment(Qt.AlignmentFlag.AlignCenter)
        prev.addWidget(arrow)
        prev.addWidget(self.preview_out)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.corpus)
        lay.addWidget(self.search)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.count)
        lay.addLayout(prev)
        lay.addWidget(self.open_button)
        self._loaded_key: tuple[str, str] | None = None

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._loaded_key is None and self._loading is None:
            self.load_corpus()

    def load_corpus(self, *_: Any) -> None:
        _, corpus, split = CORPORA[self.corpus.currentIndex()]
        key = (corpus, split)
        self._loading = key
        self.list.clear()
        self.count.setText("Loading\u2026")

        def done(tasks: dict[str, Any]) -> None:
            if self._loading != key:
                return
            self._loading = None
            self._loaded_key = key
            self.tasks = tasks
            self._filter(self.search.text())

        def fail(msg: str) -> None:
            self._loading = None
            self.count.setText("Could not load the corpus")
            self.errorRaised.emit(msg)

        run_async(_load, corpus, split, on_done=done, on_error=fail)

    def _filter(self, text: str) -> None:
        text = text.strip().lower()
        self.list.clear()
        ids = sorted(t for t in self.tasks if text in t.lower())
        for tid in ids:
            self.list.addItem(QListWidgetItem(tid))
        self.count.setText(f"{len(ids)} of {len(self.tasks)} tasks")
        if ids:
            self.list.setCurrentRow(0)

    def _preview(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is None:
            return
        task = self.tasks.get(item.text())
        if task is None or not task.train:
            return
        pair = task.train[0]
        self.preview_in.set_grid(np.asarray(pair.input))
        self.preview_out.set_grid(np.asarray(pair.output if pair.output is not None else np.zeros((1, 1))))

    def _open_item(self, item: QListWidgetItem) -> None:
        task = self.tasks.get(item.text())
        if task is not None:
            self.taskChosen.emit(task)

    def _open_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._open_item(item)

    def _open_first(self) -> None:
        if self.list.count():
            self._open_item(self.list.currentItem() or self.list.item(0))
