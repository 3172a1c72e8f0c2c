"""The solve panel: pick a model, solve in a worker thread, watch the steps stream in, scrub the timeline.

It renders a `SolveSession` (trm_lab.session): the grid at the selected step (changes outlined, confidence shaded,
givens distinct, errors marked), a pyqtgraph plot of halting confidence / cells changed / accuracy per step, and
the verdict. The timeline and the plot are the widgets the compare panel uses too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.puzzles.kind import get_kind
from trm_lab import theme
from trm_lab.session import Document, SolveSession
from trm_lab.widgets.grid_view import GridView
from trm_lab.widgets.step_plot import StepPlot
from trm_lab.widgets.timeline import Timeline, coalescing_timer
from trm_lab.workers import SolveThread, describe_model, prewarm_solver, run_async

OPEN_CHECKPOINT = "__open__"
CHECKPOINT_FILES = ("TRM Lab checkpoints (*.safetensors);;"
                    "Reference TRM / HRM checkpoints (step_* checkpoint *.pt *.pth *.ckpt);;"
                    "All files (*)")
LEGENDS = {  # what the solve view's marks mean, by puzzle kind ("": any other kind)
    "sudoku": ("Bold: givens \u00b7 purple: predictions \u00b7 orange outline: changed since the previous step "
               "\u00b7 amber shading: unsure \u00b7 red: breaks a rule or differs from the answer \u00b7 red "
               "corner on a given: the model predicts another digit there"),
    "maze": ("Blue: predicted path \u00b7 orange outline: changed \u00b7 washed out: unsure \u00b7 "
             "\u2716: wrong cell (on a wall, start or goal: the model predicts something else there)"),
    "": "Orange outline: changed since the previous step \u00b7 washed out: unsure \u00b7 \u2716: wrong cell",
}


def model_fits(entry_kind: str, rows: int, doc: Document, pos_encodings: str | None = None) -> bool:
    """Can a model of this kind and grid size solve the document's puzzle?"""
    from engine.registry import model_fits as fits

    return fits(entry_kind, rows, pos_encodings, doc.kind, doc.puzzle_input().shape)


_models_cache: list[Any] | None = None


_trained_models: list[Any] = []  # entries of the Training tab's runs' newest checkpoints


def set_trained_models(entries: list[Any]) -> None:
    """The Training tab's checkpoints, offered in every solve panel beside the installed models."""
    global _trained_models
    _trained_models = list(entries)


def read_trained_models(paths: list[str]) -> list[Any]:
    """Entries (metadata only) of training checkpoints, named "<run>/<checkpoint>"; unreadable ones are left out."""
    from dataclasses import replace

    from engine.checkpoint import CheckpointError
    from engine.registry import model_entry

    out = []
    for path in paths:
        try:
            entry = model_entry(path)
        except (CheckpointError, OSError):  # a checkpoint being written, or broken: not offered
            continue
        run = Path(path).parent.parent.name if Path(path).parent.name == "checkpoints" else Path(path).parent.name
        out.append(replace(entry, name=f"{run}/{Path(path).stem}"))
    return out


_training_cache: dict[str, dict] = {}


def training_metadata(path: str) -> dict:
    """A model file's training record (what it learnt on), read from its header once; {} when unreadable."""
    if path not in _training_cache:
        from engine.checkpoint import CheckpointError, read_model_metadata
        from engine.puzzles import PuzzleError

        try:
            _training_cache[path] = read_model_metadata(path)[2] or {}
        except (CheckpointError, PuzzleError, OSError):  # a reference checkpoint or a broken file: no hint here
            _training_cache[path] = {}
    return _training_cache[path]


def cached_models() -> list[Any] | None:
    """The model list if it has been read (None while the window is still looking: that imports torch)."""
    return _models_cache


def list_models_cached(refresh: bool = False) -> list[Any]:
    """The registry's models, read once (headers only) and cached until `refresh`. Thread-safe enough: the
    worst case is two threads reading the same small headers."""
    global _models_cache
    if _models_cache is None or refresh:
        from engine.registry import list_models

        _models_cache = list_models()  # unreadable files are left out; a bug here must fail loudly
    return _models_cache


class SolvePanel(QWidget):
    message = Signal(str)  # status-bar text
    errorRaised = Signal(str)  # dialog text
    sessionStarted = Signal(object)
    useAnswer = Signal(object)  # ARC: copy the model's answer to the output editor
    adaptRequested = Signal()  # ARC: the chosen model answers only after adapting to this task

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.session: SolveSession | None = None
        self.thread: SolveThread | None = None
        self.entry: Any = None  # engine.registry.ModelEntry of the model last used or opened
        self._opened: dict[str, Any] = {}  # path -> ModelEntry of checkpoints opened via "Open checkpoint..."
        self.adapted: Any = None  # ARC: the result of "Adapt to this task" (its answer is replayed here)
        self._extra_paths: list[tuple[str, str]] = []  # (label, path) opened via "Open checkpoint..."
        self._auto_pick: str | None = None  # the model the picker chose itself, last time it filled
        self._x_label = "step"
        self._render_timer = coalescing_timer(self, self._render_live)

        # -- model + options -------------------------------------------------------------------------------
        self.model_box = QComboBox()
        self.model_box.setToolTip("Bundled models of this puzzle's kind first, then your own checkpoints")
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_box.setMinimumContentsLength(18)
        self.model_box.activated.connect(self._on_model_activated)
        self.model_box.currentIndexChanged.connect(lambda _i: self._update_puzzle_note())
        self.model_box.currentIndexChanged.connect(lambda _i: self._follow_model_steps())
        self._steps_model: str | None = None  # the model whose default step count the Steps box was set to
        self.no_model = QLabel()
        self.no_model.setWordWrap(True)
        self.no_model.setProperty("role", "muted")
        self.steps = QSpinBox()
        self.steps.setRange(1, 256)
        self.steps.setValue(16)
        self.steps.setToolTip("Supervision steps; more than the trained 16 lets the model \u201cthink longer\u201d")
        self.steps.valueChanged.connect(self._update_steps_hint)
        self.steps_hint = QLabel()
        self.steps_hint.setProperty("role", "muted")
        self.halt_on = QCheckBox("Stop when halting \u2265")
        self.halt_on.setToolTip("Stop as soon as the model's halting confidence crosses the threshold")
        self.halt_value = QDoubleSpinBox()
        self.halt_value.setRange(0.05, 0.99)
        self.halt_value.setSingleStep(0.05)
        self.halt_value.setValue(0.5)
        self.halt_value.setEnabled(False)
        self.halt_on.toggled.connect(self.halt_value.setEnabled)
        self.inner = QCheckBox("Show inner cycles")
        self.inner.setToolTip("Also show the answer after each inner recursion cycle of a step")
        self.latent = QCheckBox("Show every low-level update")
        self.latent.setToolTip("Also show each update of the latent state (z in TRM, z_L in HRM): the answer is read "
                               "from y / z_H, so it stays put until the cycle's end, while the latent state moves")
        # -- think harder: width (trajectories) x depth (steps each) ------------------------------------
        self.think_on = QCheckBox("Think harder")
        self.think_on.setToolTip("Run several trajectories at once (symmetric views of the puzzle), each up to the "
                                 "given steps; the answer is picked by the rules first, then halting confidence, "
                                 "then vote, and solving stops at the first answer that obeys every rule")
        self.think_width = QSpinBox()
        self.think_width.setRange(1, 256)
        self.think_width.setValue(16)
        self.think_width.setSuffix(" trajectories")
        self.think_width.valueChanged.connect(
            lambda k: self.think_width.setSuffix(" trajectory" if k == 1 else " trajectories"))
        self.think_width.setToolTip("Width: how many trajectories run side by side (one batch)")
        self.think_depth = QSpinBox()
        self.think_depth.setRange(1, 256)
        self.think_depth.setValue(64)
        self.think_depth.setSuffix(" steps each")
        self.think_depth.setToolTip("Depth: supervision steps per trajectory at most")
        self.think_on.toggled.connect(self._on_think_toggled)
        self.trajectory_box = QComboBox()
        self.trajectory_box.setToolTip("Show another trajectory's steps in the timeline")
        self.trajectory_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.trajectory_box.setMinimumContentsLength(24)
        self.trajectory_box.activated.connect(self._on_trajectory_picked)
        self._trajectory_signature: tuple = ()
        self.solve_button = QPushButton("Solve")
        self.solve_button.setProperty("accent", True)
        self.solve_button.setToolTip("Solve this puzzle with the selected model (Ctrl+R)")
        self.solve_button.clicked.connect(self.solve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running solve (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", self.model_box)
        form.addRow("", self.no_model)
        steps_row = QHBoxLayout()
        steps_row.addWidget(self.steps)
        steps_row.addWidget(self.steps_hint)
        steps_row.addStretch(1)  # the box keeps its width when the hint hides (thinking harder)
        form.addRow("Steps", steps_row)
        halt_row = QHBoxLayout()
        halt_row.addWidget(self.halt_on)
        halt_row.addWidget(self.halt_value)
        halt_row.addStretch(1)
        form.addRow("", halt_row)
        inner_row = QHBoxLayout()
        inner_row.addWidget(self.inner)
        inner_row.addWidget(self.latent)
        inner_row.addStretch(1)
        form.addRow("", inner_row)
        think_row = QHBoxLayout()
        think_row.addWidget(self.think_on)
        think_row.addWidget(self.think_width)
        think_row.addWidget(self.think_depth)
        think_row.addStretch(1)
        self.think_row = QWidget()
        self.think_row.setLayout(think_row)
        think_row.setContentsMargins(0, 0, 0, 0)
        self.think_row.setVisible(doc.puzzle_kind.thinks)
        form.addRow("", self.think_row)
        self._on_think_toggled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.solve_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        self.puzzle_note = QLabel()  # what the classical solver knows before the model runs (no solution, ...)
        self.puzzle_note.setWordWrap(True)
        self.puzzle_note.hide()

        # -- result grid + timeline ------------------------------------------------------------------------
        self.view = GridView(doc.kind, min_cell=6, max_cell=44)
        self.view.placeholder = "Solve to watch the model refine its answer step by step."
        self.view.setMinimumHeight(160)
        self.timeline = Timeline(self._where, self.select_step, play_tip="Play / pause the refinement (Space in the "
                                 "timeline)", slider_tip="Scrub through the steps", prev_tip="Previous step (,)",
                                 next_tip="Next step (.)", speeds=True)
        self.step_label = QLabel("\u2014")  # the stage's caption: which step is shown, how sure the model is
        self.step_label.setProperty("role", "verdict")
        self.step_label.setFixedHeight(int(self.step_label.fontMetrics().height() * 1.8))
        self.trajectory_row = QWidget()
        trajectory_row = QHBoxLayout(self.trajectory_row)
        trajectory_row.setContentsMargins(0, 0, 0, 0)
        trajectory_row.addWidget(QLabel("Trajectory"))
        trajectory_row.addWidget(self.trajectory_box, 1)
        self.trajectory_row.hide()
        self.legend = QLabel(self._legend_text())
        self.legend.setProperty("role", "muted")
        self.legend.setWordWrap(True)

        # -- plot --------------------------------------------------------------------------------------------
        self.plot = StepPlot(min_height=120)
        self.halt_curve = self.plot.plot([], [], name="halting confidence")
        self.changed_curve = self.plot.plot([], [], name="cells changed")
        self.acc_curve = self.plot.plot([], [], name="accuracy")
        self.trajectory_curves: list[Any] = []  # thinking harder: every trajectory's halting confidence
        self.halt_curve.setZValue(3)  # the halting curve stays visible where it meets accuracy at 1.0
        self.threshold_line = pg.InfiniteLine(angle=0, movable=False)
        self.plot.addItem(self.threshold_line)
        self.plot.scene().sigMouseClicked.connect(self._on_plot_click)
        self.apply_theme()
        self._render_plot()

        self.verdict = QLabel("")
        self.verdict.setProperty("role", "verdict")
        self.verdict_detail = QLabel("")
        self.verdict_detail.setWordWrap(True)
        self.verdict_detail.setProperty("role", "muted")
        # fixed heights: a new verdict must not re-layout the panel (that would repaint the plot from scratch)
        self.verdict.setFixedHeight(int(self.verdict.fontMetrics().height() * 2.0))
        self.verdict_detail.setFixedHeight(int(self.verdict_detail.fontMetrics().height() * 3.8))
        self.verdict_detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.use_answer = QPushButton("Use as output")
        self.use_answer.setToolTip("Copy the answer at the selected step into the output editor")
        self.use_answer.setVisible(doc.takes_answer)
        self.use_answer.setEnabled(False)
        self.use_answer.clicked.connect(self._on_use_answer)
        verdict_row = QHBoxLayout()
        verdict_row.addWidget(self.verdict)
        verdict_row.addStretch(1)
        verdict_row.addWidget(self.use_answer)

        # The refinement is the main stage: the tab shows it large (the grid at the selected step, the timeline
        # under it); the panel itself keeps the model, the plot and the verdict.
        self.stage = QWidget()
        stage_lay = QVBoxLayout(self.stage)
        stage_lay.setContentsMargins(0, 4, 0, 0)
        stage_lay.addWidget(self.step_label)
        stage_lay.addWidget(self.view, 1)
        stage_lay.addWidget(self.timeline)
        stage_lay.addWidget(self.trajectory_row)
        stage_lay.addWidget(self.legend)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 0, 0, 0)
        lay.setSpacing(8)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.puzzle_note)
        lay.addLayout(verdict_row)
        lay.addWidget(self.verdict_detail)
        lay.addWidget(self.plot, 1)
        self._update_steps_hint()
        self.refresh_models()
        self._update_puzzle_note()
        doc.subscribe(self._on_doc)
        # start the solver process (off the GUI thread: forking takes a moment) so it imports torch while you edit
        QTimer.singleShot(0, lambda: run_async(prewarm_solver, on_done=lambda _: None, on_error=lambda _m: None))

    # -- models -------------------------------------------------------------------------------------------
    def _legend_text(self) -> str:
        return LEGENDS.get(self.doc.kind, LEGENDS[""])

    def refresh_models(self) -> None:
        """Fill the picker: fitting bundled models, fitting user models, opened checkpoints, then Open...."""
        current = self.model_box.currentData()
        self.model_box.blockSignals(True)
        self.model_box.clear()
        from engine.registry import rank_models

        listed = cached_models()
        trained = {str(e.path) for e in _trained_models}
        installed = {str(x.path) for x in listed or []}
        entries = (listed or []) + [e for e in _trained_models if str(e.path) not in installed]
        same_kind = rank_models(self.doc.kind, None, entries)
        question = self.doc.puzzle_input()
        for e in rank_models(self.doc.kind, question.shape, entries, style=get_kind(self.doc.kind).style(question)):
            tag = "bundled" if e.bundled else "trained here" if str(e.path) in trained else "yours"
            self.model_box.addItem(f"{e.name}  ({tag}, {e.encoding.rows}\u00d7{e.encoding.cols})", str(e.path))
        for label, path in self._extra_paths:
            self.model_box.addItem(label, path)
        if self.model_box.count():
            self.model_box.insertSeparator(self.model_box.count())
        self.model_box.addItem("Open checkpoint\u2026", OPEN_CHECKPOINT)
        # A model the user chose stays chosen; one the picker chose follows the puzzle (a blank maze ranks the
        # random-wall model first, the corridor maze then loaded into it the corridor model).
        chosen = current not in (None, OPEN_CHECKPOINT, self._auto_pick)
        idx = self.model_box.findData(current) if chosen else -1
        if idx < 0:
            idx, self._auto_pick = 0, self.model_box.itemData(0)
        self.model_box.setCurrentIndex(idx)
        self.model_box.blockSignals(False)
        self._follow_model_steps()
        has_model = self.current_model_path() is not None
        grid = self.doc.puzzle_input()
        if has_model:
            self.no_model.setText("")
            self.no_model.hide()
        elif listed is None:
            self.no_model.setText("Looking for models\u2026")
            self.no_model.show()
        else:
            what = self.doc.puzzle_kind.what(grid.shape)
            others = ""
            if same_kind:
                sizes = sorted({f"{e.encoding.rows}\u00d7{e.encoding.cols}" for e in same_kind})
                others = f" (installed {self.doc.kind} models are for {', '.join(sizes)})"
            self.no_model.setText(f"No model fits {what}{others}. Open a checkpoint, or train one in the "
                                  "Training tab.")
            self.no_model.show()
        self.solve_button.setEnabled(has_model and not self.running)
        if hasattr(self, "puzzle_note"):
            self._update_puzzle_note()

    def current_model_path(self) -> str | None:
        data = self.model_box.currentData()
        return None if data in (None, OPEN_CHECKPOINT) else str(data)

    def _on_model_activated(self, index: int) -> None:
        if self.model_box.itemData(index) == OPEN_CHECKPOINT:
            path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "", CHECKPOINT_FILES)
            self.refresh_models()  # back to the previous choice until the checkpoint has loaded
            if path:
                self.add_checkpoint(path)

    def add_checkpoint(self, path: str | Path) -> None:
        """Load a checkpoint chosen by the user (checking it fits), then select it in the picker."""
        path = str(path)

        def ok(entry: Any) -> None:
            enc = entry.encoding
            if not model_fits(enc.kind, enc.rows, self.doc, entry.config.get("pos_encodings")):
                self.errorRaised.emit(
                    f"{Path(path).name} is a {enc.kind} model for {enc.rows}\u00d7{enc.cols} grids; it cannot solve "
                    f"this {self.doc.kind} puzzle ({self.doc.puzzle_input().shape[0]}\u00d7"
                    f"{self.doc.puzzle_input().shape[1]}).")
                self.refresh_models()
                return
            label = f"{Path(path).stem}  (opened)"
            if all(p != path for _, p in self._extra_paths):
                self._extra_paths.append((label, path))
            self.refresh_models()
            self.model_box.setCurrentIndex(self.model_box.findData(path))
            self.refresh_models()
            self._opened[path] = self.entry = entry
            self._update_steps_hint()
            self.message.emit(f"Loaded {Path(path).name}")

        def fail(msg: str) -> None:
            self.errorRaised.emit(f"Could not open the checkpoint:\n{msg}")
            self.refresh_models()

        self.message.emit(f"Loading {Path(path).name}\u2026")
        run_async(describe_model, path, self.doc.kind, on_done=ok, on_error=fail)

    # -- solving ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def options(self) -> Any:
        from engine.inference import SolveOptions

        if self.think_on.isChecked() and self.doc.puzzle_kind.thinks:
            from engine.think import ThinkOptions

            return ThinkOptions(trajectories=self.think_width.value(), max_steps=self.think_depth.value())
        return SolveOptions(max_steps=self.steps.value(),
                            halt_threshold=self.halt_value.value() if self.halt_on.isChecked() else None,
                            device="auto", dtype="float32", inner_cycles=self.inner.isChecked(),
                            latent_updates=self.latent.isChecked())

    def solve(self) -> None:
        if self.running:
            return
        path = self.current_model_path()
        if path is None:
            self.errorRaised.emit(self.no_model.text() or "Choose a model first.")
            return
        self.solve_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.message.emit("Loading the model\u2026")
        entry = self._opened.get(path) or next((e for e in cached_models() or [] if str(e.path) == path), None)
        if entry is not None:
            self._start(entry)
        else:
            run_async(describe_model, path, self.doc.kind, on_done=self._start, on_error=self._load_failed)

    def _load_failed(self, msg: str) -> None:
        self.solve_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.errorRaised.emit(f"Could not load the model:\n{msg}")

    def _start(self, entry: Any) -> None:
        """Solve with the model `entry` (engine.registry.ModelEntry) describes; the solver process loads it."""
        if not self.cancel_button.isEnabled():  # cancelled while reading
            self.solve_button.setEnabled(True)
            return
        enc = entry.encoding
        if not model_fits(enc.kind, enc.rows, self.doc, entry.config.get("pos_encodings")):
            self._load_failed(f"{entry.name or 'this model'} is a {enc.kind} model for {enc.rows}\u00d7{enc.cols} "
                              f"grids, not for this puzzle.")
            return
        if self.doc.puzzle_kind.adapts and int(entry.config.get("puzzle_emb_ndim", 0)) > 0:
            self._answer_after_adapting(entry.name)
            return
        self.entry = entry
        self._update_steps_hint()
        self.timeline.stop_playback()
        puzzle = self.doc.puzzle_input()
        options = self.options()
        latent = getattr(options, "latent_updates", False)
        per_step = int(entry.config.get("H_cycles", 1)) if getattr(options, "inner_cycles", False) or latent else 1
        if latent:  # each cycle: its low-level updates, then the high-level one
            per_step *= int(entry.config.get("L_cycles", 1)) + 1
        self.session = SolveSession(self.doc.kind, puzzle, expected=self.doc.known_answer(),
                                    model_name=entry.name,
                                    halt_threshold=getattr(options, "halt_threshold", None),
                                    planned_steps=options.max_steps * per_step)
        self.session.subscribe(self._on_session)
        self._trajectory_signature = ()
        self.view.set_stale("")
        self.verdict.setText("Solving\u2026")
        self.verdict.setStyleSheet("")
        self.verdict_detail.setText("")
        self._render_plot()
        thread = SolveThread(str(entry.path), enc.kind, puzzle, options, self)
        thread.stepReady.connect(self.session.add_step)
        thread.failedWith.connect(self._solve_failed)
        thread.done.connect(self._solve_done)
        thread.finished.connect(thread.deleteLater)
        self.thread = thread
        self.sessionStarted.emit(self.session)
        self.message.emit(f"Solving with {self.session.model_name}\u2026")
        thread.start()

    def _answer_after_adapting(self, name: str) -> None:
        """A model with a learnt embedding per task (arc-base) has a blank one for a task it never adapted to: its
        answer would be noise. Replay the adapted answer if there is one, else lead the user to Adapt."""
        self.cancel_button.setEnabled(False)
        self.solve_button.setEnabled(True)
        if self.adapted is not None:
            self.set_adapted(self.adapted, announce=True)
            return
        self.timeline.stop_playback()
        self.verdict.setText("Adapt to this task first")
        self.verdict.setStyleSheet(f"color: {theme.current().warn};")
        self.verdict_detail.setText(f"{name} learns each ARC task's embedding while adapting to it; for this task it "
                                    "has none yet. Press \u201cAdapt to this task\u201d: its answer then shows here.")
        self.message.emit(f"{name} must adapt to this task before it can answer it")
        self.adaptRequested.emit()

    def set_adapted(self, result: Any, announce: bool = False) -> None:
        """Show the adapted model's answer to the current test input (attempt 1, step by step) as a session;
        `announce` brings it forward (the user pressed Solve) rather than leaving them in the Adapt panel."""
        from trm_lab.session import replay_steps

        self.adapted = result
        index = getattr(self.doc, "test_index", 0)
        if result is None or not 0 <= index < len(result.predictions) or not result.predictions[index].candidates:
            return
        best = result.predictions[index].candidates[0]
        grids = best.steps or [best.grid]
        steps = replay_steps(grids, best.step_halt or [best.mean_halt], best.step_names)
        if not steps or not steps[-1].grid.size:
            return
        self.timeline.stop_playback()
        name = f"{result.base or 'a fresh model'} adapted to {result.task_id}"
        self.session = SolveSession(self.doc.kind, self.doc.puzzle_input(), expected=self.doc.known_answer(),
                                    model_name=name, planned_steps=len(steps))
        self.session.subscribe(self._on_session)
        self.view.set_stale("")
        if announce:
            self.sessionStarted.emit(self.session)
        for step in steps:
            self.session.add_step(step)
        self.session.finish()

    def cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        if self.thread is not None and self.thread.isRunning():
            self.thread.cancel()
            self.message.emit("Cancelling\u2026")
        else:
            self.solve_button.setEnabled(self.current_model_path() is not None)

    def _solve_failed(self, msg: str) -> None:
        if self.session is not None:
            self.session.finish("failed", msg)
        self.thread = None
        self.errorRaised.emit(f"The solve failed:\n{msg}")

    def _solve_done(self, cancelled: bool) -> None:
        self.thread = None
        if self.session is not None:
            self.session.finish("cancelled" if cancelled else "finished")

    def wait(self, ms: int = 30000) -> bool:
        """Block until the worker ends (used when closing)."""
        t = self.thread
        return True if t is None else t.wait(ms)

    # -- session observation ------------------------------------------------------------------------------
    def _on_session(self, what: str) -> None:
        s = self.session
        if s is None:
            return
        if what == "steps" or (what == "selected" and s.state == "running" and s.follow_live):
            if not self._render_timer.isActive():
                self._render_timer.start()
        elif what == "selected":
            self.timeline.show_step(*self._where())
            self._render_step()
        elif what == "state":
            self._render_timer.stop()
            self._render_live()
            self.solve_button.setEnabled(self.current_model_path() is not None)
            self.cancel_button.setEnabled(False)
            self._render_verdict()

    def _render_live(self) -> None:
        s = self.session
        if s is None or not s.steps:
            return
        self._sync_trajectories()
        self.timeline.show_step(*self._where())
        self._render_plot()
        self._render_step()

    def _render_step(self) -> None:
        s = self.session
        step = s.current if s else None
        if step is None:
            return
        grid = s.display_grid(s.selected)
        self.view.placeholder = ""
        self.view.set_grid(grid, givens=s.givens if s.givens.shape == grid.shape else None, predicted=True,
                           confidence=step.confidence, changed=step.changed, errors=s.errors_at(s.selected))
        self.step_label.setText(f"{s.step_label(s.selected)} of {s.steps[-1].index}"
                                f" \u00b7 halt {float(step.halt_prob):.2f}")
        self.plot.selected_line.setValue(s.selected + 1)
        self.use_answer.setEnabled(True)

    def _render_plot(self) -> None:
        s = self.session
        if s is None or not s.steps:
            for curve in (self.halt_curve, self.changed_curve, self.acc_curve):
                curve.setData([], [])
            self._plot_trajectories()
            self.threshold_line.setVisible(False)
            self.plot.selected_line.setVisible(False)
            return
        x = np.arange(1, len(s.steps) + 1)
        self._plot_trajectories()
        self.halt_curve.setData(x, s.halt_series())
        self.changed_curve.setData(x, s.changed_series())
        acc = s.accuracy_series()
        self.acc_curve.setData(x, acc) if acc is not None else self.acc_curve.setData([], [])
        self.threshold_line.setVisible(s.halt_threshold is not None)
        if s.halt_threshold is not None:
            self.threshold_line.setValue(s.halt_threshold)
        self.plot.selected_line.setVisible(True)
        # once finished, the steps actually run: thinking harder often stops long before the planned depth
        self.plot.set_span(max(len(s.steps), (s.planned_steps or 0) if s.state == "running" else 0, 2))
        # the x axis counts yielded steps (with inner cycles on, several per supervision step)
        label = "step" if s.steps[-1].cycle is None and s.steps[0].cycle is None else "step / inner cycle"
        if label != self._x_label:
            self._x_label = label
            self.plot.setLabel("bottom", label)

    def _render_verdict(self) -> None:
        s = self.session
        t = theme.current()
        if s is None:
            return
        if s.state != "running" and self.stale:
            self._update_stale()
            return
        if s.state == "failed":
            self.verdict.setText("Failed")
            self.verdict.setStyleSheet(f"color: {t.error};")
            self.verdict_detail.setText(s.message)
            return
        v = s.verdict
        if v is None:
            self.verdict.setText("Cancelled" if s.state == "cancelled" else "No steps")
            self.verdict.setStyleSheet("")
            return
        colour = theme.verdict_colour(v.status)
        prefix = "Cancelled \u2014 " if s.state == "cancelled" else ""
        self.verdict.setText(prefix + v.headline)
        self.verdict.setStyleSheet(f"color: {colour};")
        winner = f"{s.winner_text()} " if s.think else ""
        timed = f" in {v.elapsed_s:.2f} s" if v.elapsed_s > 0 else ""  # an adapted answer's replay has no time
        self.verdict_detail.setText(f"{winner}{v.message} {v.steps} steps{timed} with {s.model_name}.")
        self.message.emit(f"{v.headline}{timed} ({v.steps} steps)")

    # -- think harder -------------------------------------------------------------------------------------
    def _on_think_toggled(self, on: bool) -> None:
        for w in (self.think_width, self.think_depth):
            w.setEnabled(on)
        for w in (self.steps, self.halt_on, self.inner):  # one trajectory's options; thinking harder sets its own
            w.setEnabled(not on)
        self.steps_hint.setVisible(not on)  # "think longer" is about the Steps box, idle while thinking harder
        self.halt_value.setEnabled(not on and self.halt_on.isChecked())

    def _sync_trajectories(self) -> None:
        """The trajectory picker: one entry per trajectory, the chosen one marked, valid ones ticked."""
        s = self.session
        self.trajectory_row.setVisible(bool(s is not None and s.think))
        if s is None or not s.think:
            return
        last = s.think[-1]
        signature = (len(last.trajectories), last.chosen, tuple(last.valid), s.trajectory)
        if signature == self._trajectory_signature:
            return
        self._trajectory_signature = signature
        names = last.view_names or [""] * len(last.trajectories)
        self.trajectory_box.blockSignals(True)
        self.trajectory_box.clear()
        for k, name in enumerate(names):
            marks = (" — chosen" if k == last.chosen else "") + (" ✓ valid" if last.valid[k] else "")
            self.trajectory_box.addItem(f"{k + 1}: {name}{marks}", k)
        self.trajectory_box.setCurrentIndex(s.trajectory)
        self.trajectory_box.blockSignals(False)

    def _on_trajectory_picked(self, index: int) -> None:
        s = self.session
        if s is None or not s.think:
            return
        s.show_trajectory(None if index == s.chosen else index)
        self._render_live()

    def _plot_trajectories(self) -> None:
        s = self.session
        series = s.trajectory_halt_series() if s is not None and s.think else np.zeros((0, 0))
        while len(self.trajectory_curves) < len(series):
            first = not self.trajectory_curves
            curve = self.plot.plot([], [], name="each trajectory's halting" if first else None)
            curve.setZValue(1)
            self.trajectory_curves.append(curve)
            self._style_trajectory_curve(curve)
        for k, curve in enumerate(self.trajectory_curves):
            if k < len(series):
                curve.setData(np.arange(1, series.shape[1] + 1), series[k])
            else:
                curve.setData([], [])

    def _style_trajectory_curve(self, curve: Any) -> None:
        colour = QColor(theme.current().accent)
        colour.setAlphaF(0.3)
        curve.setPen(pg.mkPen(colour, width=1))

    # -- timeline -----------------------------------------------------------------------------------------
    def _where(self) -> tuple[int, int]:
        s = self.session
        return (s.selected, len(s.steps)) if s is not None else (-1, 0)

    def select_step(self, index: int) -> None:
        if self.session is not None:
            self.session.follow_live = index >= len(self.session.steps) - 1
            self.session.select(index)

    def _on_plot_click(self, event) -> None:
        if self.session is None or not self.session.steps:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        self.select_step(int(round(pos.x())) - 1)

    # -- misc -----------------------------------------------------------------------------------------------
    def _on_use_answer(self) -> None:
        if self.session is not None and self.session.current is not None:
            self.useAnswer.emit(np.asarray(self.session.current.grid))

    def _on_doc(self, what: str) -> None:
        if what == "content":
            self.refresh_models()
            self._update_puzzle_note()
            self._update_stale()

    @property
    def stale(self) -> bool:
        """Has the puzzle changed since the shown answer was made (resized, regenerated, digits undone)?"""
        s = self.session
        if s is None:
            return False
        now = self.doc.puzzle_input()
        return now.shape != s.puzzle.shape or not bool((now == s.puzzle).all())

    def _update_stale(self) -> None:
        stale = self.stale
        self.view.set_stale("Out of date: the puzzle has changed since this answer. Solve again."
                            if stale else "")
        if stale:
            self.verdict.setText("Out of date")
            self.verdict.setStyleSheet(f"color: {theme.current().muted};")
            self.verdict_detail.setText("The puzzle has changed since this answer and verdict; solve again for "
                                        "the model's answer to it (Undo brings the old puzzle back).")
            self.use_answer.setEnabled(False)
        elif self.session is not None and self.session.state != "running":
            self._render_verdict()
            self.use_answer.setEnabled(self.session.current is not None)

    def _update_puzzle_note(self) -> None:
        """Say up front when the puzzle has no solution (whatever the model answers cannot be right), or lies
        outside what the chosen model was trained on (expect mistakes)."""
        question = self.doc.puzzle_input()
        reason = self.doc.puzzle_kind.no_solution(question, search=self.doc.puzzle_kind.worth_searching(question))
        t = theme.current()
        if reason:
            text, colour = f"This puzzle has no solution: {reason}.", t.warn
        else:
            text, colour = self.training_hint(), t.muted
        self.puzzle_note.setText(text)
        self.puzzle_note.setStyleSheet(f"color: {colour};")
        self.puzzle_note.setVisible(bool(text))

    def training_hint(self) -> str:
        """ "sudoku9 was trained on 24-50 givens; this puzzle has 21" when the puzzle is outside that range."""
        path = self.current_model_path()
        dataset = training_metadata(path).get("dataset") if path is not None else None
        if not isinstance(dataset, dict):
            return ""
        outside = self.doc.puzzle_kind.outside_training(dataset, self.doc.puzzle_input())
        return f"{Path(path).stem} {outside}: expect more mistakes." if outside else ""

    def _follow_model_steps(self) -> None:
        """A newly chosen model brings its own default step count (maze-hard runs 32); edits stay while it is kept."""
        path = self.model_box.currentData()
        if path == self._steps_model or not isinstance(path, str):
            return
        self._steps_model = path
        for e in cached_models() or []:
            if str(e.path) == path:
                self.steps.setValue(int(e.config.get("halt_max_steps", 16)))
                return

    def _update_steps_hint(self) -> None:
        trained = int(self.entry.config.get("halt_max_steps", 16)) if self.entry is not None else 16
        self.steps_hint.setText("think longer" if self.steps.value() > trained else "")

    def apply_theme(self) -> None:
        t = theme.current()
        self.plot.apply_theme()
        self.halt_curve.setPen(pg.mkPen(t.accent, width=2))
        for curve in self.trajectory_curves:
            self._style_trajectory_curve(curve)
        self.changed_curve.setPen(pg.mkPen(t.changed, width=2, style=Qt.PenStyle.DashLine))
        good = QColor(t.good)
        good.setAlphaF(0.55)
        self.acc_curve.setPen(pg.mkPen(good, width=6))  # a wide band under the halting line, so both show at 1.0
        self.threshold_line.setPen(pg.mkPen(t.error, width=1, style=Qt.PenStyle.DotLine))
        self.view.update()

    def shutdown(self) -> None:
        """Cancel any solve and wait for its thread (window close)."""
        self.timeline.stop_playback()
        if self.thread is not None and self.thread.isRunning():
            self.thread.cancel()
            self.thread.wait(10000)
