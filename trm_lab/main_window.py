"""The lab window: a tab per puzzle document (editor + solve panel), an ARC task browser, a Training tab, menus,
shortcuts, recent files, drag-and-drop, export, and prompts before unsaved edits are lost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.home import EXAMPLES_DIR  # package data: the example puzzles ship in the wheel too
from trm_lab import export, theme
from trm_lab.panels.arc_adapt import ArcAdaptPanel
from trm_lab.panels.arc_browser import ArcBrowser
from trm_lab.panels.compare import ComparePanel
from trm_lab.panels.solve import SolvePanel, cached_models, list_models_cached, model_fits
from trm_lab.panels.training import TrainingPanel
from trm_lab.session import (
    DOCUMENTS,
    ArcDocument,
    Document,
    LabError,
    MazeDocument,
    SudokuDocument,
    open_document,
)
from trm_lab.settings import Settings
from trm_lab.widgets.arc_editor import ArcEditor
from trm_lab.widgets.generate_dialog import GenerateDialog, GenerateRequest, generate
from trm_lab.widgets.maze_editor import MazeEditor
from trm_lab.widgets.sudoku_editor import SudokuEditor
from trm_lab.workers import describe_error, describe_model, run_async

EXAMPLES = (("A classic Sudoku", "sudoku-classic.txt"), ("Six famous hard Sudoku", "sudoku-famous-hard.csv"),
            ("Three 15\u00d715 mazes", "maze-15x15.txt"), ("ARC task 007bbfb7", "arc-007bbfb7.json"))
PUZZLE_FILTER = ("Puzzles (*.txt *.csv *.json *.sdk *.maze);;Sudoku / maze text (*.txt *.csv);;"
                 "ARC task (*.json);;All files (*)")


@dataclass(frozen=True)
class KindViews:
    """How a tab shows one kind of puzzle: its editor, the editor tab's name, the picture "Export PNG" draws of the
    puzzle before anything is solved, and how a tab begins for a model of the kind (`start(window, side)`: a blank
    puzzle, or None once the window has shown where to pick one)."""

    editor: type[QWidget]
    page: str
    picture: Callable[[Document], Any]
    start: Callable[[MainWindow, int], DocumentView | None]


def _sudoku_picture(doc: SudokuDocument) -> Any:
    return export.render_grid("sudoku", doc.combined(), cell=32, givens=doc.givens > 0, entries=doc.entries > 0)


def _maze_picture(doc: MazeDocument) -> Any:
    return export.render_grid("maze", doc.grid, cell=max(8, min(32, 480 // max(doc.grid.shape))))


VIEWS = {  # by puzzle kind
    "sudoku": KindViews(SudokuEditor, "Puzzle", _sudoku_picture, lambda w, n: w.blank_tab("sudoku", n)),
    "maze": KindViews(MazeEditor, "Puzzle", _maze_picture, lambda w, n: w.blank_tab("maze", n)),
    "arc": KindViews(ArcEditor, "Task", lambda doc: export.render_grid("arc", doc.output, cell=32),
                     lambda w, _n: w.offer_arc_tasks()),
}


def scrolling(widget: QWidget) -> QScrollArea:
    """`widget` filling a scroll area: it grows with the window and scrolls once the window is smaller than it."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


def output_untouched(grid: np.ndarray) -> bool:
    """An ARC output still as a new document starts it (3 x 3 black): nothing of the user's to lose."""
    return grid.shape == (3, 3) and not np.asarray(grid).any()


class DocumentView(QWidget):
    """One tab: the document's editor on the left, its solve panel on the right."""

    errorRaised = Signal(str)
    message = Signal(str)

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.kind_views = VIEWS[doc.kind]
        self.editor: QWidget = self.kind_views.editor(doc)
        if hasattr(self.editor, "errorRaised"):
            self.editor.errorRaised.connect(self.errorRaised)
        self.solve = SolvePanel(doc)
        self.solve.errorRaised.connect(self.errorRaised)
        self.solve.message.connect(self.message)
        if doc.takes_answer:
            self.solve.useAnswer.connect(doc.set_output)
        # Left: the puzzle's editor and the refinement stage as tabs (solving brings the stage forward, the editor
        # is a click away), plus "Adapt to this task" for ARC. Right: model, verdict, plot. Both scroll rather than
        # squeeze below their minimum sizes in a small window.
        puzzle = QWidget()
        puzzle_lay = QVBoxLayout(puzzle)
        puzzle_lay.setContentsMargins(0, 4, 0, 0)
        puzzle_lay.addWidget(self.editor, 1)
        self.picker = self._collection_picker(doc)
        if self.picker is not None:
            puzzle_lay.insertWidget(0, self.picker)
            doc.subscribe(lambda what: what == "path" and self.picker.setVisible(len(doc.collection) > 1))
        self.puzzle_page = puzzle
        self.left_tabs = QTabWidget()
        self.left_tabs.setDocumentMode(True)
        self.left_tabs.addTab(scrolling(puzzle), self.kind_views.page)
        self.left_tabs.addTab(self.solve.stage, "Refinement")
        self.left_tabs.setTabToolTip(1, "The model's answer at the selected step, as it refines it")
        self.adapt = self._adapt_area(doc)
        if self.adapt is not None:  # ARC: "Adapt to this task" is a third tab
            self.left_tabs.addTab(scrolling(self.adapt), "Adapt to this task")
            self.solve.adaptRequested.connect(self.show_adapt)
        self.solve.sessionStarted.connect(lambda _s: self.show_stage())
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 8, 0)
        left_lay.addWidget(self.left_tabs, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        # the right side: this puzzle solved by one model, or by two side by side (TRM and HRM, ...)
        self.compare = ComparePanel(doc)
        self.compare.errorRaised.connect(self.errorRaised)
        self.compare.message.connect(self.message)
        self.right_tabs = QTabWidget()
        self.right_tabs.setDocumentMode(True)
        self.right_tabs.addTab(scrolling(self.solve), "Solve")
        self.right_tabs.addTab(scrolling(self.compare), "Compare two models")
        self.splitter.addWidget(self.right_tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addWidget(self.splitter)

    def show_stage(self) -> None:
        """Bring the refinement forward (a solve started or was replayed)."""
        self.left_tabs.setCurrentWidget(self.solve.stage)

    def show_editor(self) -> None:
        self.left_tabs.setCurrentIndex(0)

    def show_adapt(self) -> None:
        if self.adapt is not None:
            self.left_tabs.setCurrentIndex(2)

    @property
    def page(self) -> str:
        """Which left tab is showing: "puzzle", "refinement" or "adapt"."""
        return ("puzzle", "refinement", "adapt")[self.left_tabs.currentIndex()]

    def _collection_picker(self, doc: Document) -> QWidget | None:
        """A file with several puzzles: "Puzzle [n] of N" with previous / next, to step through them."""
        count = len(doc.collection)
        if count < 2:
            return None
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 4)
        self.puzzle_box = QComboBox()
        self.puzzle_box.addItems([str(i + 1) for i in range(count)])
        self.puzzle_box.setToolTip(f"{doc.path.name if doc.path else 'This file'} holds {count} puzzles")
        self.puzzle_box.currentIndexChanged.connect(self.pick_puzzle)
        prev_b, next_b = QToolButton(), QToolButton()
        prev_b.setText("\u25c0")
        prev_b.setToolTip("Previous puzzle in the file")
        next_b.setText("\u25b6")
        next_b.setToolTip("Next puzzle in the file")
        prev_b.clicked.connect(lambda: self.puzzle_box.setCurrentIndex(max(0, self.puzzle_box.currentIndex() - 1)))
        next_b.clicked.connect(lambda: self.puzzle_box.setCurrentIndex(min(count - 1,
                                                                           self.puzzle_box.currentIndex() + 1)))
        row.addWidget(QLabel("Puzzle"))
        row.addWidget(self.puzzle_box)
        row.addWidget(QLabel(f"of {count} in this file"))
        row.addWidget(prev_b)
        row.addWidget(next_b)
        row.addStretch(1)
        return bar

    def pick_puzzle(self, index: int) -> None:
        """Show another puzzle of the file; unsaved edits of this one are discarded only when the user agrees."""
        doc = self.doc
        if index == doc.collection_index:
            return
        if doc.dirty:
            answer = QMessageBox.question(
                self, "Unsaved changes", f"Discard your changes to puzzle {doc.collection_index + 1}?",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Discard:
                self.puzzle_box.blockSignals(True)
                self.puzzle_box.setCurrentIndex(doc.collection_index)
                self.puzzle_box.blockSignals(False)
                return
        doc.pick(index)

    def _adapt_area(self, doc: Document) -> QWidget | None:
        """The ARC "Adapt to this task" panel (trm_lab.panels.arc_adapt) for a kind whose models adapt."""
        if not doc.puzzle_kind.adapts:
            return None
        panel = ArcAdaptPanel(doc.task)
        panel.errorRaised.connect(self.errorRaised)
        panel.attemptsReady.connect(self._use_adapted_attempt)
        panel.useGrid.connect(self._use_grid)
        return panel

    def _use_adapted_attempt(self, result: Any) -> None:
        """Fill each output the user has not touched with the adaptation's attempt 1 (undoable); an output the user
        made is never replaced: "Use as output" in the Adapt panel copies an attempt on request."""
        kept = []
        for i, pred in enumerate(getattr(result, "predictions", [])[: len(self.doc.outputs)]):
            if not pred.attempts:
                continue
            if not output_untouched(self.doc.outputs[i]):
                kept.append(i + 1)
                continue
            index = self.doc.test_index
            self.doc.test_index = i
            self.doc.set_output(np.asarray(pred.attempts[0]), "Use adapted answer")
            self.doc.test_index = index
        if kept:
            which = ", ".join(map(str, kept))
            self.message.emit(f"Adaptation done; your output for test {which} is kept (\u201cUse as output\u201d in "
                              "the Adapt tab copies an attempt)")
        self.solve.set_adapted(result)

    def _use_grid(self, test_index: int, grid: np.ndarray) -> None:
        self.doc.test_index = min(test_index, len(self.doc.outputs) - 1)
        if hasattr(self.editor, "test_pick"):
            self.editor.test_pick.setCurrentIndex(self.doc.test_index)
        self.doc.set_output(grid, "Use adapted answer")
        self.message.emit(f"Test {self.doc.test_index + 1}: the adapted answer is now your output (Undo restores "
                          "yours)")

    def adapted_attempts(self) -> list[list[np.ndarray]] | None:
        """The adaptation's (attempt 1, attempt 2) per test input, if this task has been adapted to."""
        result = getattr(self.adapt, "result", None)
        if result is None:
            return None
        return [[np.asarray(a) for a in p.attempts[:2]] for p in result.predictions]

    def shutdown(self) -> None:
        self.solve.shutdown()
        self.compare.shutdown()
        if self.adapt is not None:
            self.adapt.shutdown()

    def editor_image(self) -> Any:
        return self.kind_views.picture(self.doc)

    def answer_grid(self) -> tuple[np.ndarray, str]:
        """What "export solution" writes, and whose it is: the model's answer at the selected step, else a
        solution the user or the classical solver made. LabError when there is nothing solved to write."""
        s = self.solve.session
        if s is not None and s.current is not None and not self.solve.stale:
            return np.asarray(s.current.grid), f"{s.model_name}'s answer at {s.step_label(s.selected)}"
        own = self.doc.own_answer()
        if own is not None:
            return own
        stale = " (the answer shown is out of date)" if s is not None and s.current is not None else ""
        raise LabError(f"Nothing solved to export yet{stale}: solve the puzzle (Ctrl+R) first{self.doc.fill_hint}.")


class MainWindow(QMainWindow):
    documentOpened = Signal(object)
    modelsListed = Signal()

    def __init__(self, settings: Settings | None = None, *, load_training: bool = True):
        super().__init__()
        self.settings = settings if settings is not None else Settings.load()
        self.setWindowTitle("TRM Lab")
        self.resize(1280, 820)
        self.setAcceptDrops(True)
        self._untitled: dict[str, int] = {}  # per kind: "Untitled Sudoku 2", "Untitled Maze 1"
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.setCentralWidget(self.tabs)
        self.welcome = scrolling(self._welcome())  # scrolls in a small window rather than widening it
        self.tabs.addTab(self.welcome, "Start")
        self.training = None
        if load_training:
            self._add_training_tab()
        for i in range(self.tabs.count()):  # fixed tabs cannot be closed
            self.tabs.tabBar().setTabButton(i, self.tabs.tabBar().ButtonPosition.RightSide, None)

        self.arc_browser = ArcBrowser()
        self.arc_browser.taskChosen.connect(self.open_arc_task)
        self.arc_browser.errorRaised.connect(self.show_error)
        self.arc_dock = QDockWidget("ARC tasks", self)
        self.arc_dock.setObjectName("arc_tasks")
        self.arc_dock.setWidget(self.arc_browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.arc_dock)
        self.arc_dock.hide()

        self._build_actions()
        self._build_menus()
        self.tabs.currentChanged.connect(self._update_actions)
        self.statusBar().showMessage("Ready \u2014 create, open or generate a puzzle", 5000)
        self._update_actions()
        QTimer.singleShot(0, self.refresh_models)  # reading models imports torch: after the first paint

    # ------------------------------------------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------------------------------------------
    def _welcome(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(40, 40, 40, 40)
        title = QLabel("TRM Lab")
        title.setStyleSheet("font-size: 22pt; font-weight: 600;")
        text = QLabel(
            "Watch the Tiny Recursive Model think: draw or load a puzzle, solve it on this machine, and scrub "
            "through every refinement step.<br><br>"
            "<b>Ctrl+N</b> new Sudoku \u00b7 <b>Ctrl+Shift+N</b> new maze \u00b7 <b>Ctrl+G</b> generate \u00b7 "
            "<b>Ctrl+O</b> open a puzzle file (or drop it here) \u00b7 <b>Ctrl+Shift+A</b> browse ARC tasks"
            "<br><b>Ctrl+R</b> solve \u00b7 <b>Esc</b> cancel \u00b7 <b>Ctrl+Space</b> play / pause \u00b7 "
            "<b>,</b> / <b>.</b> previous / next step")
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.models_label = QLabel()
        self.models_label.setProperty("role", "muted")
        self.models_label.setWordWrap(True)
        actions = QHBoxLayout()  # the same actions as the shortcuts above, one click away
        self.start_buttons: dict[str, QPushButton] = {}
        for label, slot in (("New Sudoku", lambda: self.new_sudoku(9)), ("New maze", lambda: self.new_maze(15)),
                            ("Generate\u2026", self.generate_dialog), ("Open\u2026", self.open_dialog),
                            ("Browse ARC tasks", self.show_arc_browser)):
            b = QPushButton(label)
            b.clicked.connect(slot)
            actions.addWidget(b)
            self.start_buttons[label.rstrip("\u2026")] = b
        actions.addStretch(1)
        examples = QHBoxLayout()
        examples.addWidget(QLabel("Examples:"))
        for label, name in EXAMPLES:
            if (EXAMPLES_DIR / name).is_file():
                b = QPushButton(label)
                b.setToolTip(str(EXAMPLES_DIR / name))
                b.clicked.connect(lambda _=False, name=name: self.open_path(EXAMPLES_DIR / name))
                examples.addWidget(b)
                self.start_buttons[name] = b
        examples.addStretch(1)
        lay.addWidget(title)
        lay.addSpacing(8)
        lay.addLayout(actions)
        lay.addLayout(examples)
        lay.addSpacing(12)
        lay.addWidget(text)
        lay.addSpacing(16)
        lay.addWidget(self.models_label)
        lay.addStretch(1)
        self._describe_models()
        return w

    def _describe_models(self) -> None:
        models = cached_models()
        if models is None:
            self.models_label.setText("Looking for models\u2026")
        elif not models:
            self.models_label.setText("No models installed yet: open a checkpoint from a solve panel, or train one "
                                      "in the Training tab.")
        else:
            names = ", ".join(f"{m.name} ({m.kind} {m.encoding.rows}\u00d7{m.encoding.cols})" for m in models)
            self.models_label.setText(f"Models: {names}")

    def _add_training_tab(self) -> None:
        self.training = TrainingPanel()
        self.tabs.addTab(self.training, "Training")
        self.training.open_checkpoint.connect(self.open_checkpoint_in_solver)
        self.training.checkpointsFound.connect(self.offer_trained_checkpoints)
        self.training.message.connect(lambda m: self.statusBar().showMessage(m, 6000))

    def offer_trained_checkpoints(self, paths: list[str]) -> None:
        """Runs' newest checkpoints join every solve panel's model list (read in a worker: metadata only)."""
        from trm_lab.panels.solve import read_trained_models, set_trained_models

        def done(entries: list) -> None:
            set_trained_models(entries)
            for v in self.views():
                v.solve.refresh_models()
            self.modelsListed.emit()

        run_async(read_trained_models, list(paths), on_done=done, on_error=lambda _m: None)

    def open_checkpoint_in_solver(self, path: str) -> None:
        """A checkpoint from the Training tab: select it in a puzzle tab it fits (a new puzzle if none does)."""

        def done(entry: Any) -> None:
            enc = entry.encoding
            view = next((v for v in reversed(self.views())
                         if model_fits(enc.kind, enc.rows, v.doc, entry.config.get("pos_encodings"))), None)
            if view is None:
                view = VIEWS[enc.kind].start(self, enc.rows)
                if view is None:
                    return
            self.tabs.setCurrentWidget(view)
            view.solve.add_checkpoint(path)

        run_async(describe_model, str(path), None, on_done=done,
                  on_error=lambda m: self.show_error(f"Could not open the checkpoint:\n{m}"))

    def _act(self, text: str, slot, shortcut: Any = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        tip = tip or text.replace("&", "").rstrip(".\u2026")
        a.setStatusTip(tip)
        a.setToolTip(tip)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.act_new_sudoku = self._act("New &Sudoku 9\u00d79", lambda: self.new_sudoku(9), K.New)
        self.act_new_sudoku6 = self._act("New Sudoku 6\u00d76", lambda: self.new_sudoku(6))
        self.act_new_sudoku4 = self._act("New Sudoku 4\u00d74", lambda: self.new_sudoku(4))
        self.act_new_maze = self._act("New &Maze", lambda: self.new_maze(15), "Ctrl+Shift+N")
        self.act_open = self._act("&Open\u2026", self.open_dialog, K.Open, "Open a Sudoku, maze or ARC task file")
        self.act_save = self._act("&Save", self.save, K.Save)
        self.act_save_as = self._act("Save &As\u2026", self.save_as, K.SaveAs)
        self.act_generate = self._act("&Generate\u2026", self.generate_dialog, "Ctrl+G",
                                      "Generate a Sudoku (by givens) or a maze (by size)")
        self.act_arc = self._act("Browse &ARC tasks", self.show_arc_browser, "Ctrl+Shift+A",
                                 "Browse the bundled ARC-AGI-1 and ARC-AGI-2 tasks")
        self.act_close = self._act("&Close tab", lambda: self.close_tab(self.tabs.currentIndex()), K.Close)
        self.act_quit = self._act("&Quit", self.close, K.Quit)
        self.act_undo = self._act("&Undo", self.undo, K.Undo)
        self.act_redo = self._act("&Redo", self.redo, K.Redo)
        # Ctrl+Y and Ctrl+Shift+Z both redo, whichever the platform's standard is (a key bound twice would be
        # ambiguous and do nothing)
        redo_keys = QKeySequence.keyBindings(K.Redo) + [QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")]
        self.act_redo.setShortcuts(list({k.toString(): k for k in redo_keys if not k.isEmpty()}.values()))
        self.act_export_solution = self._act("Solution as text / CSV / JSON\u2026", self.export_solution, "Ctrl+E")
        self.act_export_png = self._act("Grid as PNG\u2026", self.export_png, "Ctrl+Shift+E")
        self.act_export_gif = self._act("Refinement as animated GIF\u2026", self.export_gif)
        self.act_export_strip = self._act("Refinement as PNG strip\u2026", self.export_strip)
        self.act_export_model = self._act("Model checkpoint with card\u2026", self.export_model)
        self.act_solve = self._act("&Solve", lambda: self._panel_call("solve"), "Ctrl+R",
                                   "Solve the puzzle with the selected model")
        self.act_cancel = self._act("&Cancel solve", lambda: self._panel_call("cancel"), "Esc")
        self.act_play = self._act("&Play / pause", lambda: self._panel_call("timeline.toggle_play"), "Ctrl+Space")
        self.act_prev = self._act("Pre&vious step", lambda: self._panel_call("timeline.step_by", -1), ",")
        self.act_next = self._act("&Next step", lambda: self._panel_call("timeline.step_by", 1), ".")
        self.act_first = self._act("First step", lambda: self._panel_call("select_step", 0), "Home")
        self.act_last = self._act("Last step", lambda: self._panel_call("select_step", 10**6), "End")
        self.act_refresh_models = self._act("Refresh model list", self.refresh_models, "F5")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for mode, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            a = QAction(label, self, checkable=True)
            a.triggered.connect(lambda _=False, m=mode: self.set_theme(m))
            self.theme_group.addAction(a)
            self.theme_actions[mode] = a
        self.theme_actions.get(self.settings.theme, self.theme_actions["system"]).setChecked(True)
        self.act_toggle_theme = self._act("Toggle light / dark", self.toggle_theme, "Ctrl+Shift+L")

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        new = f.addMenu("&New")
        for a in (self.act_new_sudoku, self.act_new_sudoku6, self.act_new_sudoku4, self.act_new_maze):
            new.addAction(a)
        f.addAction(self.act_generate)
        f.addAction(self.act_open)
        self.recent_menu = f.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        f.addAction(self.act_arc)
        f.addSeparator()
        f.addAction(self.act_save)
        f.addAction(self.act_save_as)
        ex = f.addMenu("&Export")
        for a in (self.act_export_solution, self.act_export_png, self.act_export_gif, self.act_export_strip,
                  self.act_export_model):
            ex.addAction(a)
        f.addSeparator()
        f.addAction(self.act_close)
        f.addAction(self.act_quit)
        e = mb.addMenu("&Edit")
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        s = mb.addMenu("&Solve")
        for a in (self.act_solve, self.act_cancel, None, self.act_play, self.act_prev, self.act_next, self.act_first,
                  self.act_last, None, self.act_refresh_models):
            s.addSeparator() if a is None else s.addAction(a)
        v = mb.addMenu("&View")
        tm = v.addMenu("&Theme")
        for a in self.theme_actions.values():
            tm.addAction(a)
        v.addAction(self.act_toggle_theme)
        v.addAction(self.arc_dock.toggleViewAction())
        h = mb.addMenu("&Help")
        h.addAction(self._act("&About TRM Lab", self.about))

    # ------------------------------------------------------------------------------------------------------
    # documents
    # ------------------------------------------------------------------------------------------------------
    def views(self) -> list[DocumentView]:
        return [w for i in range(self.tabs.count()) if isinstance(w := self.tabs.widget(i), DocumentView)]

    def current_view(self) -> DocumentView | None:
        w = self.tabs.currentWidget()
        return w if isinstance(w, DocumentView) else None

    def current_document(self) -> Document | None:
        v = self.current_view()
        return v.doc if v else None

    def add_document(self, doc: Document) -> DocumentView:
        if not doc.path and not getattr(doc, "untitled_number", 0):
            self._untitled[doc.kind] = self._untitled.get(doc.kind, 0) + 1
            doc.untitled_number = self._untitled[doc.kind]
        view = DocumentView(doc)
        view.errorRaised.connect(self.show_error)
        if hasattr(view.editor, "generateRequested"):  # an editor with its own "generate a puzzle here" button
            view.editor.generateRequested.connect(lambda n, doc=doc: self._generate_into(doc, n))
        view.message.connect(lambda m, view=view: view is self.current_view() and self.statusBar().showMessage(m, 6000))
        doc.subscribe(lambda what, view=view: self._on_doc(view, what))
        index = self.tabs.addTab(view, doc.title)
        self.tabs.setTabToolTip(index, str(doc.path) if doc.path else doc.title)
        self.tabs.setCurrentIndex(index)
        self.documentOpened.emit(view)
        self._update_actions()
        return view

    def _on_doc(self, view: DocumentView, what: str) -> None:
        i = self.tabs.indexOf(view)
        if i < 0:
            return
        self.tabs.setTabText(i, view.doc.title + (" \u2022" if view.doc.dirty else ""))
        if what == "path":
            self.tabs.setTabToolTip(i, str(view.doc.path))
        if view is self.current_view():
            self._update_actions()

    def new_sudoku(self, size: int = 9) -> DocumentView:
        return self.add_document(SudokuDocument(size))

    def new_maze(self, size: int = 15) -> DocumentView:
        return self.add_document(MazeDocument(size=size))

    def blank_tab(self, kind: str, side: int) -> DocumentView | None:
        """A tab with a new empty puzzle of `kind` for a `side` x `side` model (None: that kind has none)."""
        doc = DOCUMENTS[kind].blank(side)
        return None if doc is None else self.add_document(doc)

    def offer_arc_tasks(self) -> None:
        self.show_arc_browser()
        self.statusBar().showMessage("Open an ARC task, then pick this model in its solve panel", 8000)

    def open_arc_task(self, task: Any) -> DocumentView:
        for v in self.views():
            if isinstance(v.doc, ArcDocument) and v.doc.path is None and v.doc.task.task_id == task.task_id:
                self.tabs.setCurrentWidget(v)
                return v
        return self.add_document(ArcDocument(task))

    def show_arc_browser(self) -> None:
        self.arc_dock.show()
        self.arc_dock.raise_()
        self.arc_browser.search.setFocus()

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open puzzle", self.settings.last_dir, PUZZLE_FILTER)
        for p in paths:
            self.open_path(p)

    def open_path(self, path: str | Path, kind: str | None = None) -> None:
        """Read the file in a worker thread, then add a tab; a bad file gives a dialog naming the problem."""
        path = Path(path)
        for v in self.views():
            if v.doc.path and v.doc.path.resolve() == path.resolve():
                self.tabs.setCurrentWidget(v)
                return
        self.statusBar().showMessage(f"Opening {path.name}\u2026")

        def done(doc: Document) -> None:
            self.add_document(doc)
            self.settings.add_recent(path)
            self.settings.last_dir = str(path.parent)
            self._save_settings()
            self.statusBar().showMessage(f"Opened {path.name}", 4000)

        def fail(msg: str) -> None:
            self.statusBar().clearMessage()
            self.show_error(f"Could not open {path.name}:\n{msg}")

        run_async(open_document, path, kind, on_done=done, on_error=fail)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = [p for p in self.settings.recent_files if Path(p).exists()]
        if not recent:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
            return
        for i, p in enumerate(recent):
            a = self.recent_menu.addAction(f"&{i + 1} {Path(p).name}")
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear list", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.recent_files = []
        self._save_settings()

    def _save_settings(self) -> None:
        try:
            self.settings.save()
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save settings: {exc}", 6000)

    # -- saving ---------------------------------------------------------------------------------------------
    def save(self, view: DocumentView | None = None) -> bool:
        view = view or self.current_view()
        if view is None:
            return False
        if view.doc.path is None or (isinstance(view.doc, ArcDocument) and view.doc.path.suffix != ".json"):
            return self.save_as(view)
        if len(view.doc.collection) > 1:  # writing one puzzle over the file would drop the others
            return self.save_as(view)
        return self._write(view.doc, view.doc.path)

    def save_as(self, view: DocumentView | None = None) -> bool:
        view = view or self.current_view()
        if view is None:
            return False
        doc = view.doc
        if isinstance(doc, ArcDocument):
            flt, default = "ARC task (*.json)", f"{doc.task.task_id}.json"
        else:
            flt, default = "Text grid (*.txt);;CSV (*.csv)", f"{doc.title.replace(' ', '_').lower()}.txt"
        if doc.path and len(doc.collection) > 1:
            start = str(doc.path.with_name(f"{doc.path.stem}-{doc.collection_index + 1}.txt"))
        elif doc.path:
            start = str(doc.path)
        else:
            start = str(Path(self.settings.last_dir or Path.home()) / default)
        path, _ = QFileDialog.getSaveFileName(self, "Save puzzle", start, flt)
        if not path:
            return False
        return self._write(doc, Path(path))

    def _write(self, doc: Document, path: Path) -> bool:
        """Save synchronously (small files; the close prompt needs the answer before it goes on)."""
        try:
            doc.save(path)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, the edits stay in memory
            self.show_error(f"Could not save {path.name}:\n{describe_error(exc)}")
            return False
        doc.collection = []  # the new file holds this one puzzle
        doc.mark_saved(path)
        self.settings.add_recent(path)
        self.settings.last_dir = str(path.parent)
        self._save_settings()
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    # -- closing --------------------------------------------------------------------------------------------
    def confirm_discard(self, view: DocumentView) -> bool:
        """Ask before unsaved edits are lost: Save / Discard / Cancel. True means go ahead."""
        if not view.doc.dirty:
            return True
        self.tabs.setCurrentWidget(view)
        answer = QMessageBox.question(
            self, "Unsaved changes", f"{view.doc.title} has unsaved changes. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save(view)
        return answer == QMessageBox.StandardButton.Discard

    def close_tab(self, index: int) -> bool:
        w = self.tabs.widget(index)
        if not isinstance(w, DocumentView):
            return False
        if not self.confirm_discard(w):
            return False
        w.shutdown()
        self.tabs.removeTab(index)
        w.deleteLater()
        self._update_actions()
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        for view in self.views():
            if not self.confirm_discard(view):
                event.ignore()
                return
        for view in self.views():
            view.shutdown()
        if self.training is not None:
            try:
                self.training.shutdown()
            except Exception:  # noqa: BLE001
                pass
        self._save_settings()
        event.accept()

    # -- editing --------------------------------------------------------------------------------------------
    def undo(self) -> None:
        doc = self.current_document()
        if doc is not None and doc.undo():
            self.statusBar().showMessage("Undone", 2000)

    def redo(self) -> None:
        doc = self.current_document()
        if doc is not None and doc.redo():
            self.statusBar().showMessage("Redone", 2000)

    def generate_dialog(self) -> None:
        doc = self.current_document()
        like = doc if doc is not None and doc.puzzle_kind.generates else None  # a puzzle like the one shown
        dlg = GenerateDialog(like.kind, like.puzzle_input().shape[0], self) if like else GenerateDialog(parent=self)
        if dlg.exec():
            self.generate(dlg.request())

    def generate(self, req: GenerateRequest, into: Document | None = None) -> None:
        """Generate in a worker; the puzzle goes into `into` (undoable) or a new tab."""
        self.statusBar().showMessage("Generating\u2026")

        def done(result: tuple[np.ndarray, np.ndarray | None]) -> None:
            grid, solution = result
            if into is not None:
                into.replace(grid, solution)
            else:
                self.add_document(DOCUMENTS[req.kind].generated(grid, solution))
            self.statusBar().showMessage(f"Generated a {req.kind} (seed {req.seed})", 4000)

        run_async(generate, req, on_done=done, on_error=lambda m: self.show_error(f"Could not generate:\n{m}"))

    def _generate_into(self, doc: Document, size: int) -> None:
        import random

        self.generate(GenerateRequest(doc.kind, min(30, max(5, size)), 0, random.randrange(1_000_000)), into=doc)

    def _panel_call(self, name: str, *args: Any) -> None:
        """Call the current solve panel's `name` ("solve", "timeline.step_by", ...)."""
        v = self.current_view()
        if v is not None:
            attrgetter(name)(v.solve)(*args)

    def refresh_models(self) -> None:
        """Re-read the model folders in a worker thread, then refresh every picker."""

        def done(_models: Any) -> None:
            for v in self.views():
                v.solve.refresh_models()
                v.compare.refresh_models()
            self._describe_models()
            self.modelsListed.emit()

        run_async(list_models_cached, True, on_done=done, on_error=self.show_error)

    # -- export ---------------------------------------------------------------------------------------------
    def _ask_path(self, title: str, default: str, flt: str) -> Path | None:
        """Exports start in the folder of the last export, else the home folder (never the puzzles' folder, which
        may be the install's assets)."""
        start = str(Path(self.settings.last_export_dir or Path.home()) / default)
        path, _ = QFileDialog.getSaveFileName(self, title, start, flt)
        return Path(path) if path else None

    def _stem(self, view: DocumentView) -> str:
        if isinstance(view.doc, ArcDocument):
            return view.doc.task.task_id
        return (view.doc.path.stem if view.doc.path else view.doc.title.replace(" ", "_").lower())

    def export_solution(self, path: Path | None = None) -> Path | None:
        view = self.current_view()
        if view is None:
            return None
        path = path or self._ask_path("Export solution", f"{self._stem(view)}_solution.txt",
                                      "Text (*.txt);;CSV (*.csv);;JSON (*.json)")
        if path is None:
            return None
        attempts = None
        task_id = None
        try:
            grid, source = view.answer_grid()
        except LabError as exc:
            self.show_error(str(exc))
            return None
        if isinstance(view.doc, ArcDocument):
            task_id = view.doc.task.task_id
            attempts = view.adapted_attempts()
            grid, source = view.doc.output.copy(), "your output"
            if path.suffix.lower() == ".json":
                if attempts is not None:
                    source = "the adaptation's attempts 1 and 2"
                else:
                    attempts = [[out] for out in view.doc.outputs]
                    source = "your output as both attempts"
        written = self._guard(lambda: export.export_solution(path, view.doc.kind, grid, task_id=task_id,
                                                             attempts=attempts), path)
        if written is not None:
            self.statusBar().showMessage(f"Exported {path} with {source}", 8000)
        return written

    def _frames(self, view: DocumentView, captions: bool = True) -> list:
        s = view.solve.session
        if s is None or not s.steps:
            raise LabError("Solve the puzzle first: there are no steps to export.")
        cell = 36 if view.solve.view.look.digits else max(8, min(28, 420 // max(s.puzzle.shape)))  # digits to read
        frames = []
        for i, step in enumerate(s.steps):
            grid = s.display_grid(i)
            img = export.render_grid(view.doc.kind, grid, cell=cell, givens=s.givens, predicted=True,
                                     confidence=step.confidence, changed=step.changed, errors=s.errors_at(i))
            if captions:
                img = export.caption(img, f"{s.step_label(i)} \u00b7 halt {float(step.halt_prob):.2f}")
            frames.append(img)
        return frames

    def _export_view(self, path: Path | None, title: str, suffix: str, file_filter: str, write) -> Path | None:
        """Ask where (unless `path` is given), then `write(view, path)`, errors shown; None when cancelled."""
        view = self.current_view()
        if view is None:
            return None
        path = path or self._ask_path(title, f"{self._stem(view)}{suffix}", file_filter)
        if path is None:
            return None
        return self._guard(lambda: write(view, path), path)

    def export_png(self, path: Path | None = None) -> Path | None:
        def write(view: DocumentView, path: Path) -> None:
            s = view.solve.session
            if s is not None and s.current is not None:
                img = self._frames(view)[s.selected]
            else:
                img = view.editor_image()  # nothing solved: the puzzle as the editor shows it
            export.write_png(path, img)

        return self._export_view(path, "Export grid", ".png", "PNG image (*.png)", write)

    def export_gif(self, path: Path | None = None) -> Path | None:
        return self._export_view(path, "Export refinement", "_refinement.gif", "GIF (*.gif)",
                                 lambda view, p: export.write_gif(p, self._frames(view), delay_ms=600))

    def export_strip(self, path: Path | None = None) -> Path | None:
        return self._export_view(path, "Export refinement", "_steps.png", "PNG image (*.png)",
                                 lambda view, p: export.write_png(p, export.strip(self._frames(view))))

    def export_model(self, path: Path | None = None) -> Path | None:
        view = self.current_view()
        model_path = view.solve.current_model_path() if view else None
        if model_path is None:
            self.show_error("Pick a model in the solve panel first.")
            return None
        path = path or self._ask_path("Export model", Path(model_path).name, "Checkpoint (*.safetensors *.pt)")
        if path is None:
            return None
        card = next((m.card for m in cached_models() or [] if str(m.path) == model_path), None)
        from engine.checkpoint import is_reference_checkpoint

        if is_reference_checkpoint(model_path):  # a reference import is exported in our format, with its provenance
            return self._guard(lambda: self._export_imported(model_path, view.doc.kind, path), path)
        return self._guard(lambda: export.export_checkpoint(model_path, path, card), path)

    @staticmethod
    def _export_imported(model_path: str, kind: str, dest: Path) -> None:
        from trainers.checkpointing import export_model

        export_model(model_path, dest.with_suffix(".safetensors"), {"imported_from": str(model_path)}, kind=kind)

    def _guard(self, fn, path: Path) -> Path | None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported in a dialog, never a traceback
            self.show_error(f"Could not export {path.name}:\n{describe_error(exc)}")
            return None
        self.settings.last_export_dir = str(path.parent)
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return path

    # -- misc -----------------------------------------------------------------------------------------------
    def set_theme(self, mode: str) -> None:
        theme.apply(QApplication.instance(), mode)
        self.settings.theme = mode
        self.theme_actions[mode].setChecked(True)
        self._save_settings()
        for v in self.views():
            v.solve.apply_theme()
            v.compare.apply_theme()
            v.editor.update()
        for w in self.findChildren(QWidget):  # this window's widgets only: others may be mid-deletion
            w.update()

    def toggle_theme(self) -> None:
        self.set_theme("light" if theme.current().name == "dark" else "dark")

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message.splitlines()[0], 8000)
        QMessageBox.warning(self, "TRM Lab", message)

    def about(self) -> None:
        QMessageBox.about(self, "About TRM Lab",
                          "<b>TRM Lab</b><br>A desktop lab for the Tiny Recursive Model (Jolicoeur-Martineau, 2025): "
                          "\u201cLess is More: Recursive Reasoning with Tiny Networks\u201d.")

    def _update_actions(self, *_: Any) -> None:
        view = self.current_view()
        has = view is not None
        for a in (self.act_save, self.act_save_as, self.act_close, self.act_export_solution, self.act_export_png,
                  self.act_export_gif, self.act_export_strip, self.act_export_model, self.act_solve,
                  self.act_cancel, self.act_play, self.act_prev, self.act_next, self.act_first, self.act_last):
            a.setEnabled(has)
        doc = view.doc if view else None
        self.act_undo.setEnabled(bool(doc and doc.history.can_undo))
        self.act_redo.setEnabled(bool(doc and doc.history.can_redo))
        self.act_undo.setText(f"&Undo {doc.history.undo_label}" if doc and doc.history.can_undo else "&Undo")
        self.act_redo.setText(f"&Redo {doc.history.redo_label}" if doc and doc.history.can_redo else "&Redo")
        title = "TRM Lab"
        if doc is not None:
            dot = " \u2022" if doc.dirty else ""
            title = f"{doc.title}{dot} \u2014 TRM Lab"
        self.setWindowTitle(title)

    # -- drag and drop --------------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
        event.acceptProposedAction()
