"""ARC task view and output editor with the tools of the official ARC testing interface.

Train pairs side by side; the test input; an output grid you paint with the ten ARC colours, select and copy/paste
(from the input or the output), flood fill, resize, copy from input, reset; and Check against the known output.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from trm_lab import theme
from trm_lab.session import ArcDocument, LabError
from trm_lab.widgets.grid_view import GridView

TOOLS = ("paint", "select", "fill")


def _small_view(grid: np.ndarray, max_cell: int = 18) -> GridView:
    v = GridView("arc", min_cell=4, max_cell=max_cell)
    v.set_grid(np.asarray(grid))
    v.setMinimumSize(v.minimumSizeHint())
    return v


def _button(text: str, tip: str, slot) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


class ArcEditor(QWidget):
    errorRaised = Signal(str)
    checked = Signal(object)  # True / False / None

    def __init__(self, doc: ArcDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.colour = 1
        self.tool = "paint"
        self.clipboard: np.ndarray | None = None
        self._sel_source: GridView | None = None
        self._sel_anchor: tuple[int, int] | None = None

        # -- train pairs -----------------------------------------------------------------------------------
        pairs = QWidget()
        grid = QGridLayout(pairs)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setHorizontalSpacing(10)
        for i, pair in enumerate(doc.task.train):
            grid.addWidget(QLabel(f"Example {i + 1}"), i, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(_small_view(pair.input), i, 1)
            arrow = QLabel("\u2192")
            arrow.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(arrow, i, 2)
            grid.addWidget(_small_view(pair.output if pair.output is not None else np.zeros((1, 1)),), i, 3)
        scroll = QScrollArea()
        scroll.setWidget(pairs)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(260)

        # -- test input and output --------------------------------------------------------------------------
        self.input_view = GridView("arc", interactive=True, min_cell=8, max_cell=28)
        self.input_view.setToolTip("Test input. With the Select tool, drag to select cells and press C to copy.")
        self.output_view = GridView("arc", interactive=True, min_cell=8, max_cell=28)
        self.output_view.setToolTip("Your answer. Paint, select (C copy / V paste), or flood fill.")
        for v in (self.input_view, self.output_view):
            v.cellPressed.connect(lambda r, c, b, v=v: self._on_press(v, r, c, b))
            v.cellDragged.connect(lambda r, c, v=v: self._on_drag(v, r, c))
            v.released.connect(self.doc.end_group)
            v.keyPressed.connect(self._on_key)

        self.test_pick = QComboBox()
        self.test_pick.addItems([f"Test {i + 1}" for i in range(len(doc.task.test))])
        self.test_pick.setVisible(len(doc.task.test) > 1)
        self.test_pick.currentIndexChanged.connect(self._on_test_index)

        # -- tools ------------------------------------------------------------------------------------------
        tool_row = QHBoxLayout()
        self.tool_buttons: dict[str, QRadioButton] = {}
        group = QButtonGroup(self)
        for name, label, tip in (("paint", "Edit", "Paint single cells (drag to paint many)"),
                                 ("select", "Select", "Drag to select; C copies, V pastes at the selected cell"),
                                 ("fill", "Flood fill", "Fill the connected region with the colour")):
            b = QRadioButton(label)
            b.setToolTip(tip)
            b.toggled.connect(lambda on, name=name: on and self.set_tool(name))
            group.addButton(b)
            tool_row.addWidget(b)
            self.tool_buttons[name] = b
        self.tool_buttons["paint"].setChecked(True)
        tool_row.addStretch(1)

        palette_row = QHBoxLayout()
        palette_row.setSpacing(3)
        self.colour_buttons: list[QToolButton] = []
        for i, (hexc, name) in enumerate(zip(theme.ARC_COLORS, theme.ARC_COLOR_NAMES, strict=True)):
            b = QToolButton()
            b.setCheckable(True)
            b.setFixedSize(26, 26)
            b.setToolTip(f"{i}: {name} (key {i})")
            b.setStyleSheet(f"QToolButton {{ background: {hexc}; border: 2px solid #888; border-radius: 4px; }}"
                            f"QToolButton:checked {{ border: 3px solid {theme.current().accent}; }}")
            b.clicked.connect(lambda _=False, i=i: self.set_colour(i))
            palette_row.addWidget(b)
            self.colour_buttons.append(b)
        self.colour_buttons[self.colour].setChecked(True)
        palette_row.addStretch(1)

        action_row = QHBoxLayout()
        self.rows = QSpinBox()
        self.cols = QSpinBox()
        for s, tip in ((self.rows, "Rows"), (self.cols, "Columns")):
            s.setRange(1, 30)
            s.setToolTip(tip)
        self.resize_button = _button("Resize", "Resize the output grid", self._on_resize)
        self.copy_input_button = _button("Copy from input", "Start from a copy of the test input", doc.copy_from_input)
        self.reset_button = _button("Reset", "Reset the output to a 3\u00d73 black grid", doc.reset)
        self.check_button = _button("Check", "Compare your output with the task's known test output", self.check)
        for w in (QLabel("Size"), self.rows, QLabel("\u00d7"), self.cols, self.resize_button, self.copy_input_button,
                  self.reset_button, self.check_button):
            action_row.addWidget(w)
        action_row.addStretch(1)
        self.result = QLabel()
        self.result.setProperty("role", "heading")

        io = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("Test input"))
        left.addWidget(self.input_view, 1)
        right = QVBoxLayout()
        right.addWidget(QLabel("Output"))
        right.addWidget(self.output_view, 1)
        io.addLayout(left, 1)
        io.addLayout(right, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        title = QLabel(f"Task {doc.task.task_id} \u2014 {len(doc.task.train)} examples")
        title.setProperty("role", "heading")
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.test_pick)
        lay.addLayout(head)
        lay.addWidget(scroll, 2)
        lay.addLayout(io, 3)
        lay.addLayout(tool_row)
        lay.addLayout(palette_row)
        lay.addLayout(action_row)
        lay.addWidget(self.result)
        doc.subscribe(self._on_doc)
        self.refresh()

    # -- state ----------------------------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self.tool = name
        if not self.tool_buttons[name].isChecked():
            self.tool_buttons[name].setChecked(True)
        if name != "select":
            self.input_view.set_selection(None)
            self.output_view.set_selection(None)

    def set_colour(self, i: int) -> None:
        self.colour = int(i)
        for j, b in enumerate(self.colour_buttons):
            b.setChecked(j == self.colour)

    def _on_test_index(self, i: int) -> None:
        self.doc.test_index = max(0, i)
        self.refresh()

    def _on_doc(self, what: str) -> None:
        if what == "content":
            self.refresh()

    def refresh(self) -> None:
        self.input_view.set_grid(self.doc.test_input)
        out = self.doc.output
        self.output_view.set_grid(out)
        self.rows.setValue(out.shape[0])
        self.cols.setValue(out.shape[1])
        self.result.clear()

    # -- mouse ----------------------------------------------------------------------------------------------
    def _on_press(self, view: GridView, r: int, c: int, button) -> None:
        if self.tool == "select":
            other = self.output_view if view is self.input_view else self.input_view
            other.set_selection(None)
            self._sel_source, self._sel_anchor = view, (r, c)
            view.set_selection((r, c, r, c))
            view.set_cursor((r, c))
            return
        if view is not self.output_view:
            return
        colour = 0 if button == Qt.MouseButton.RightButton else self.colour
        if self.tool == "fill":
            self.doc.flood_fill(r, c, colour)
        else:
            self.doc.begin_group("Paint")
            self.doc.paint([(r, c)], colour)

    def _on_drag(self, view: GridView, r: int, c: int) -> None:
        if self.tool == "select" and view is self._sel_source and self._sel_anchor:
            view.set_selection((*self._sel_anchor, r, c))
        elif self.tool == "paint" and view is self.output_view:
            self.doc.paint([(r, c)], self.colour)

    # -- keys -----------------------------------------------------------------------------------------------
    def _on_key(self, event) -> None:
        key = event.key()
        if Qt.Key.Key_0 <= key <= Qt.Key.Key_9 and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_colour(key - Qt.Key.Key_0)
        elif key == Qt.Key.Key_C:
            self.copy_selection()
        elif key == Qt.Key.Key_V:
            self.paste_at_selection()
        elif key == Qt.Key.Key_F and not event.modifiers():
            self.set_tool("fill")
        elif key == Qt.Key.Key_S and not event.modifiers():
            self.set_tool("select")
        elif key == Qt.Key.Key_E and not event.modifiers():
            self.set_tool("paint")
        else:
            event.ignore()
            return
        event.accept()

    def copy_selection(self) -> bool:
        view = self._sel_source
        if view is None or view.selection is None:
            return False
        r0, c0, r1, c1 = view.selection
        grid = view.grid
        self.clipboard = np.array(grid[min(r0, r1) : max(r0, r1) + 1, min(c0, c1) : max(c0, c1) + 1], np.int8)
        self.result.setText(f"Copied {self.clipboard.shape[0]}\u00d7{self.clipboard.shape[1]} cells")
        return True

    def paste_at_selection(self) -> bool:
        """Paste the copied block with its top-left at the selected output cell."""
        if self.clipboard is None or self.output_view.selection is None:
            return False
        r0, c0, r1, c1 = self.output_view.selection
        self.doc.paste(min(r0, r1), min(c0, c1), self.clipboard)
        return True

    def select(self, view: GridView, r0: int, c0: int, r1: int, c1: int) -> None:
        """Programmatic selection (also what a drag does)."""
        self.set_tool("select")
        self._on_press(view, r0, c0, Qt.MouseButton.LeftButton)
        self._on_drag(view, r1, c1)

    # -- actions --------------------------------------------------------------------------------------------
    def _on_resize(self) -> None:
        try:
            self.doc.resize(self.rows.value(), self.cols.value())
        except LabError as exc:
            self.errorRaised.emit(str(exc))

    def check(self) -> bool | None:
        ok = self.doc.check()
        t = theme.current()
        if ok is None:
            self.result.setText("This task has no known test output.")
            colour = t.muted
        elif ok:
            self.result.setText("\u2714 Correct \u2014 matches the known output.")
            colour = t.good
        else:
            exp = self.doc.test_output
            out = self.doc.output
            if exp.shape != out.shape:
                why = f"size {out.shape[0]}\u00d7{out.shape[1]}, expected {exp.shape[0]}\u00d7{exp.shape[1]}"
            else:
                why = f"{int((exp != out).sum())} cells differ"
            self.result.setText(f"\u2718 Not yet \u2014 {why}.")
            colour = t.error
        self.result.setStyleSheet(f"color: {QColor(colour).name()};")
        self.checked.emit(ok)
        return ok
