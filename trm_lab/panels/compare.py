"""The compare panel: two models (TRM and HRM, or any two that fit) on the puzzle of this tab, side by side.

Both solve at once, each in its own solver process (trm_lab.workers.SolveThread), so the window never waits. One
timeline shows both answers in lockstep (trm_lab.compare), cells where they differ carry a magenta corner, one plot
holds both halting curves and the share of cells that differ, and each side has its verdict and time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from trm_lab import theme
from trm_lab.compare import CompareSession
from trm_lab.panels.solve import CHECKPOINT_FILES, OPEN_CHECKPOINT, cached_models, model_fits
from trm_lab.session import Document, SolveSession
from trm_lab.widgets.grid_view import DIFFERS_COLOUR, GridView
from trm_lab.widgets.step_plot import StepPlot
from trm_lab.widgets.timeline import Timeline, coalescing_timer
from trm_lab.workers import SolveThread, load_model, run_async

SIDES = ("A", "B")
DASHES = {"A": Qt.PenStyle.SolidLine, "B": Qt.PenStyle.DashLine}


class ComparePanel(QWidget):
    message = Signal(str)
    errorRaised = Signal(str)

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.session: CompareSession | None = None
        self.threads: dict[str, SolveThread] = {}
        self.loaded: dict[str, Any] = {}
        self._extra_paths: list[tuple[str, str]] = []
        self._pending = 0
        self._render_timer = coalescing_timer(self, self._render_live)

        self.pickers = {side: QComboBox() for side in SIDES}
        for side, box in self.pickers.items():
            box.setToolTip(f"Model {side}: any model that fits this puzzle (TRM or HRM)")
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(14)
            box.activated.connect(lambda index, s=side: self._on_picked(s, index))
        self.steps = QSpinBox()
        self.steps.setRange(1, 256)
        self.steps.setValue(16)
        self.steps.setToolTip("Supervision steps for both models")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setProperty("accent", True)
        self.compare_button.setToolTip("Solve this puzzle with both models at once")
        self.compare_button.clicked.connect(self.compare)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.no_models = QLabel()
        self.no_models.setWordWrap(True)
        self.no_models.setProperty("role", "muted")

        top = QGridLayout()
        top.setContentsMargins(0, 0, 0, 0)
        for row, side in enumerate(SIDES):
            top.addWidget(QLabel(f"Model {side}"), row, 0)
            top.addWidget(self.pickers[side], row, 1)
        top.addWidget(QLabel("Steps"), 2, 0)
        steps_row = QHBoxLayout()
        steps_row.addWidget(self.steps)
        steps_row.addWidget(self.compare_button)
        steps_row.addWidget(self.cancel_button)
        steps_row.addStretch(1)
        top.addLayout(steps_row, 2, 1)
        top.setColumnStretch(1, 1)

        self.titles = {side: QLabel(f"Model {side}") for side in SIDES}
        self.views = {side: GridView(doc.kind, min_cell=5, max_cell=36) for side in SIDES}
        self.verdicts = {side: QLabel("") for side in SIDES}
        grids = QGridLayout()
        for col, side in enumerate(SIDES):
            self.titles[side].setWordWrap(True)
            self.views[side].placeholder = f"Model {side}'s answer, step by step, shows here."
            self.views[side].setMinimumHeight(140)
            self.verdicts[side].setWordWrap(True)
            self.verdicts[side].setProperty("role", "verdict")
            grids.addWidget(self.titles[side], 0, col)
            grids.addWidget(self.views[side], 1, col)
            grids.addWidget(self.verdicts[side], 2, col)
        grids.setRowStretch(1, 1)

        self.timeline = Timeline(self._where, self.select_step, play_tip="Play / pause both models' refinement",
                                 slider_tip="Both models at the same supervision step")
        self.step_label = QLabel("\u2014")
        self.step_label.setFixedWidth(self.step_label.fontMetrics().horizontalAdvance("step 256 of 256 \u00b7 "
                                                                                     "999 cells differ") + 8)
        self.timeline.add_widget(self.step_label)
        self.legend = QLabel(f"<span style='color:{DIFFERS_COLOUR}'>\u25e3</span> the other model answers this cell "
                             "differently \u00b7 orange outline: changed since the previous step")
        self.legend.setProperty("role", "muted")
        self.legend.setWordWrap(True)

        self.plot = StepPlot(min_height=130)
        self.halt_curves = {side: self.plot.plot([], [], name=f"halting {side}") for side in SIDES}
        self.differ_curve = self.plot.plot([], [], name="cells that differ")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 0, 0, 0)
        lay.setSpacing(8)
        lay.addLayout(top)
        lay.addWidget(self.no_models)
        lay.addLayout(grids, 3)
        lay.addWidget(self.timeline)
        lay.addWidget(self.legend)
        lay.addWidget(self.plot, 2)
        self.apply_theme()
        self.refresh_models()
        doc.subscribe(self._on_doc)

    # -- models -------------------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        """Both pickers list the fitting models (bundled, yours, opened); B starts on another model than A."""
        entries = [e for e in (cached_models() or [])
                   if model_fits(e.kind, e.encoding.rows, self.doc, e.config.get("pos_encodings"))]
        items = [(f"{e.name}  ({'bundled' if e.bundled else 'yours'}, {e.encoding.rows}\u00d7{e.encoding.cols})",
                  str(e.path)) for e in entries] + list(self._extra_paths)
        for side, box in self.pickers.items():
            current = box.currentData()
            box.blockSignals(True)
            box.clear()
            for label, path in items:
                box.addItem(label, path)
            if items:
                box.insertSeparator(box.count())
            box.addItem("Open checkpoint\u2026", OPEN_CHECKPOINT)
            index = box.findData(current) if current and current != OPEN_CHECKPOINT else -1
            if index < 0:
                index = 1 if side == "B" and len(items) > 1 else 0
            box.setCurrentIndex(index)
            box.blockSignals(False)
        ready = all(self.model_path(s) for s in SIDES)
        self.no_models.setVisible(not ready)
        self.no_models.setText("" if ready else "Choose two models that fit this puzzle (Open checkpoint\u2026 "
                               "takes TRM and HRM checkpoints, ours or the reference's).")
        self.compare_button.setEnabled(ready and not self.running)

    def model_path(self, side: str) -> str | None:
        data = self.pickers[side].currentData()
        return None if data in (None, OPEN_CHECKPOINT) else str(data)

    def _on_picked(self, side: str, index: int) -> None:
        if self.pickers[side].itemData(index) == OPEN_CHECKPOINT:
            path, _ = QFileDialog.getOpenFileName(self, f"Open model {side}", "", CHECKPOINT_FILES)
            self.refresh_models()
            if path:
                self.add_checkpoint(side, path)
        else:
            self.refresh_models()

    def add_checkpoint(self, side: str, path: str | Path) -> None:
        path = str(path)
        if all(p != path for _, p in self._extra_paths):
            self._extra_paths.append((f"{Path(path).stem}  (opened)", path))
        self.refresh_models()
        self.pickers[side].setCurrentIndex(self.pickers[side].findData(path))
        self.refresh_models()

    # -- solving ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return any(_alive(t) and t.isRunning() for t in self.threads.values()) or self._pending > 0

    def compare(self) -> None:
        if self.running:
            return
        paths = {side: self.model_path(side) for side in SIDES}
        if not all(paths.values()):
            self.errorRaised.emit(self.no_models.text())
            return
        self.compare_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.loaded.clear()
        self._pending = len(SIDES)
        self.message.emit("Loading both models\u2026")
        for side, path in paths.items():
            run_async(load_model, path, self.doc.kind, on_done=lambda m, s=side: self._loaded(s, m),
                      on_error=self._load_failed)

    def _loaded(self, side: str, loaded: Any) -> None:
        self._pending -= 1
        enc = loaded.encoding
        if not model_fits(enc.kind, enc.rows, self.doc, loaded.config.pos_encodings):
            return self._load_failed(f"{loaded.name or side} is a {enc.kind} model for {enc.rows}\u00d7{enc.cols} "
                                     "grids, not for this puzzle.")
        if self.doc.puzzle_kind.adapts and loaded.config.puzzle_emb_ndim > 0:
            return self._load_failed(f"{loaded.name or side} learns an embedding per ARC task and has none for "
                                     "this one: compare it after adapting (Solve tab), or pick another model.")
        self.loaded[side] = loaded
        if len(self.loaded) == len(SIDES) and self.cancel_button.isEnabled():
            self._start()

    def _load_failed(self, msg: str) -> None:
        self._pending = 0
        self.compare_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.errorRaised.emit(f"Could not load the models:\n{msg}")

    def _start(self) -> None:
        from engine.architectures import arch_of
        from engine.inference import SolveOptions

        self.timeline.stop_playback()
        puzzle = self.doc.puzzle_input()
        sessions = {}
        for side in SIDES:
            loaded = self.loaded[side]
            name = loaded.name or Path(str(loaded.path)).stem
            sessions[side] = SolveSession(self.doc.kind, puzzle, expected=self.doc.known_answer(), model_name=name,
                                          planned_steps=self.steps.value())
            self.titles[side].setText(f"<b>{side}: {name}</b> \u00b7 {arch_of(loaded.model).upper()}, "
                                      f"{_size(loaded)}")
            self.verdicts[side].setText("Solving\u2026")
            self.verdicts[side].setStyleSheet("")
        self.session = CompareSession(sessions["A"], sessions["B"])
        self.session.subscribe(self._on_session)
        self._render_plot()
        for side in SIDES:
            options = SolveOptions(max_steps=self.steps.value(), device="auto", dtype="float32")
            thread = SolveThread(str(self.loaded[side].path), self.doc.kind, puzzle, options, self)
            thread.stepReady.connect(sessions[side].add_step)
            thread.failedWith.connect(lambda msg, s=sessions[side]: self._failed(s, msg))
            thread.done.connect(lambda cancelled, s=sessions[side]: s.finish("cancelled" if cancelled else "finished"))
            thread.finished.connect(thread.deleteLater)
            self.threads[side] = thread
        self.message.emit(f"Comparing {sessions['A'].model_name} and {sessions['B'].model_name}\u2026")
        for thread in self.threads.values():
            thread.start()

    def _failed(self, session: SolveSession, msg: str) -> None:
        session.finish("failed", msg)
        self.errorRaised.emit(f"{session.model_name} failed:\n{msg}")

    def cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        for thread in self.threads.values():
            if thread.isRunning():
                thread.cancel()
        if not self.running:
            self.compare_button.setEnabled(True)

    def wait(self, ms: int = 30000) -> bool:
        return all(t.wait(ms) for t in list(self.threads.values()) if _alive(t))

    def shutdown(self) -> None:
        """Cancel both solves and wait for their threads (window close): a solver still starting answers late."""
        self.timeline.stop_playback()
        for thread in list(self.threads.values()):
            if _alive(thread) and thread.isRunning():
                thread.cancel()
        self.wait(30000)

    # -- rendering ----------------------------------------------------------------------------------------
    def _on_session(self, what: str) -> None:
        s = self.session
        if s is None:
            return
        if what == "steps" or (what == "position" and s.follow_live and not s.finished):
            if not self._render_timer.isActive():
                self._render_timer.start()
        elif what == "position":
            self.timeline.show_step(*self._where())
            self._render_step()
        elif what == "state":
            if s.finished:
                self.threads.clear()
                self._render_timer.stop()
                self._render_live()
                self.compare_button.setEnabled(all(self.model_path(x) for x in SIDES))
                self.cancel_button.setEnabled(False)
            self._render_verdicts()

    def _render_live(self) -> None:
        if self.session is None or not self.session.length:
            return
        self.timeline.show_step(*self._where())
        self._render_plot()
        self._render_step()

    def _render_step(self) -> None:
        s = self.session
        if s is None or s.position < 0:
            return
        differs = s.differ_at(s.position)
        for side, sess, mask in zip(SIDES, (s.a, s.b), differs, strict=True):
            view = self.views[side]
            if not sess.steps:
                continue
            index = min(s.position, len(sess.steps) - 1)
            step = sess.steps[index]
            grid = sess.display_grid(index)
            view.placeholder = ""
            view.set_grid(grid, givens=sess.givens if sess.givens.shape == grid.shape else None, predicted=True,
                          confidence=step.confidence, changed=step.changed, differs=mask)
        count = int(differs[0].sum()) if differs[0] is not None else 0
        self.step_label.setText(f"step {s.position + 1} of {s.length} \u00b7 {count} cells differ")
        self.plot.selected_line.setValue(s.position + 1)

    def _render_plot(self) -> None:
        s = self.session
        if s is None or not s.length:
            for curve in (*self.halt_curves.values(), self.differ_curve):
                curve.setData([], [])
            self.plot.selected_line.setVisible(False)
            return
        for side, sess in zip(SIDES, (s.a, s.b), strict=True):
            if sess.steps:
                self.halt_curves[side].setData(np.arange(1, len(sess.steps) + 1), sess.halt_series())
        if s.a.steps and s.b.steps:
            self.differ_curve.setData(np.arange(1, s.length + 1), s.differ_series())
        self.plot.selected_line.setVisible(True)
        self.plot.set_span(max(s.length, self.steps.value(), 2))

    def _render_verdicts(self) -> None:
        t = theme.current()
        s = self.session
        for side, sess in zip(SIDES, (s.a, s.b), strict=True):
            label = self.verdicts[side]
            if sess.state == "running":
                continue
            if sess.state == "failed":
                label.setText("Failed")
                label.setStyleSheet(f"color: {t.error};")
                continue
            v = sess.verdict
            if v is None:
                label.setText("Cancelled")
                continue
            label.setText(f"{v.headline} \u00b7 {v.steps} steps in {v.elapsed_s:.2f} s")
            label.setStyleSheet(f"color: {theme.verdict_colour(v.status)};")
        if s.finished:
            words = [f"{x.model_name}: {x.verdict.headline if x.verdict else x.state}" for x in (s.a, s.b)]
            self.message.emit("Compared \u2014 " + "; ".join(words))

    # -- timeline -----------------------------------------------------------------------------------------
    def _where(self) -> tuple[int, int]:
        s = self.session
        return (s.position, s.length) if s is not None else (-1, 0)

    def select_step(self, position: int) -> None:
        s = self.session
        if s is not None:
            s.follow_live = position >= s.length - 1
            s.select(position)

    def _on_doc(self, what: str) -> None:
        if what == "content":
            self.refresh_models()

    def apply_theme(self) -> None:
        t = theme.current()
        self.plot.apply_theme()
        for side, colour in zip(SIDES, (t.accent, t.good), strict=True):
            self.halt_curves[side].setPen(pg.mkPen(colour, width=2, style=DASHES[side]))
        self.differ_curve.setPen(pg.mkPen(DIFFERS_COLOUR, width=2, style=Qt.PenStyle.DotLine))


def _size(loaded: Any) -> str:
    from engine.model import count_parameters

    n = count_parameters(loaded.model)
    return f"{n / 1e6:.1f}M parameters" if n >= 1e6 else f"{n / 1e3:.0f}k parameters"


def _alive(thread: Any) -> bool:
    """A finished SolveThread is deleted (deleteLater): touching its wrapper then raises."""
    try:
        thread.isRunning()
        return True
    except RuntimeError:
        return False
