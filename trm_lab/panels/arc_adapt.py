""""Adapt to this task": fit a TRM to one ARC task's demonstrations, watch it learn, browse the voted answers.

Training runs in a process of its own (`trainers.arc_adapt.adapt_in_child`), relayed by an `AdaptThread` whose
signals bring progress and the result back to the event loop, so the window never trains. Cancel asks the trainer
to stop after its current step; the answers are then predicted from what it has learnt so far.
"""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from trm_lab import theme
from trm_lab.widgets.grid_view import GridView
from trm_lab.workers import describe_named_error

FRESH = "fresh tiny TRM"
AUTO_LABEL = "arc-base if the task fits, else fresh"


class AdaptThread(QThread):
    """Relays one adaptation that runs in its own process (training never shares the window's interpreter and
    GIL); `cancel()` asks it to stop after the current optimiser step and answer with what it has learnt."""

    progress = Signal(object)  # trainers.arc_adapt.AdaptProgress
    finishedWith = Signal(object)  # trainers.arc_adapt.AdaptResult
    failedWith = Signal(str)

    def __init__(self, task: Any, options: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.task, self.options = task, options
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._process: Any = None

    def cancel(self) -> None:
        self._stop.set()

    def kill(self) -> None:
        """End the process now (closing the window while it trains)."""
        self._stop.set()
        if self._process is not None and self._process.is_alive():
            self._process.kill()

    def run(self) -> None:
        from trainers.arc_adapt import adapt_in_child

        messages = self._context.Queue()
        self._process = self._context.Process(target=adapt_in_child, name="trm-lab-adapt", daemon=True,
                                              args=(self.task, self.options, messages, self._stop))
        self._process.start()
        while True:
            try:
                event, payload = messages.get(timeout=0.1)
            except queue.Empty:
                if not self._process.is_alive() and messages.empty():
                    code = self._process.exitcode
                    self.failedWith.emit(f"the adaptation process ended unexpectedly (exit code {code})")
                    break
                continue
            if event == "progress":
                self.progress.emit(payload)
                continue
            if event == "result":
                self.finishedWith.emit(payload)
            else:
                self.failedWith.emit(describe_named_error(*payload))
            break
        self._process.join(10)
        if self._process.is_alive():  # the answer is in hand; a child slow to tear down (a loaded machine) must
            self._process.kill()  # not outlive the thread, or "not running" would be said too early
            self._process.join()


def _arc_models() -> list[tuple[str, str]]:
    """(label, path) of the ARC models the registry knows, for the "start from" picker."""
    from engine.registry import rank_models

    return [(e.name, str(e.path)) for e in rank_models("arc")]


class ArcAdaptPanel(QWidget):
    attemptsReady = Signal(object)  # trainers.arc_adapt.AdaptResult (result.predictions[i].attempts)
    useGrid = Signal(int, object)  # test index, grid: the user asked for this answer as their output
    errorRaised = Signal(str)

    def __init__(self, task: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        from trainers.arc_adapt import AdaptOptions

        self.options = AdaptOptions()  # defaults for every run; the budget and base come from the controls
        self.task: Any = None
        self.result: Any = None
        self.thread: AdaptThread | None = None
        self._history: list[Any] = []

        self.adapt_button = QPushButton("Adapt to this task")
        self.adapt_button.setToolTip("Learn this task from its demonstration pairs, then answer its test inputs")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.budget = QSpinBox()
        self.budget.setRange(5, 3600)
        self.budget.setValue(int(self.options.budget_s))
        self.budget.setSuffix(" s")
        self.budget.setToolTip("Training time budget")
        from trainers.arc_adapt import AUTO

        self.base = QComboBox()
        self.base.addItem(AUTO_LABEL, AUTO)
        self.base.addItem(FRESH, None)
        for label, path in _arc_models():
            self.base.addItem(label, path)
        self.status = QLabel("Open an ARC task, then adapt.")
        self.status.setWordWrap(True)

        controls = QHBoxLayout()
        controls.addWidget(self.adapt_button)
        controls.addWidget(QLabel("Budget"))
        controls.addWidget(self.budget)
        controls.addWidget(QLabel("Start from"))
        controls.addWidget(self.base, 1)
        controls.addWidget(self.cancel_button)

        self.plot = theme.themed_plot(pg.PlotWidget())
        self.plot.setMinimumHeight(140)
        self.plot.addLegend(offset=(5, 5))
        self.plot.setLabel("bottom", "optimiser step")
        self.loss_curve = self.plot.plot([], [], pen=pg.mkPen("#FF851B", width=2), name="loss")
        self.acc_curve = self.plot.plot([], [], pen=pg.mkPen("#2ECC40", width=2), name="cell accuracy")
        self.exact_curve = self.plot.plot([], [], pen=pg.mkPen("#0074D9", width=2), name="exact")

        self.test_picker = QComboBox()
        self.candidates = QListWidget()
        self.candidates.setMaximumWidth(220)
        self.view = GridView("arc", max_cell=28)
        self.step_slider = QSlider(Qt.Orientation.Horizontal)
        self.step_slider.setEnabled(False)
        self.step_label = QLabel("")
        self.use_button = QPushButton("Use as output")
        self.use_button.setToolTip("Copy the grid shown here into this test input's output (undoable)")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._on_use)

        answers = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self.test_picker)
        left.addWidget(self.candidates, 1)
        answers.addLayout(left)
        right = QVBoxLayout()
        right.addWidget(self.view, 1)
        steps_row = QHBoxLayout()
        steps_row.addWidget(QLabel("Step"))
        steps_row.addWidget(self.step_slider, 1)
        steps_row.addWidget(self.step_label)
        steps_row.addWidget(self.use_button)
        right.addLayout(steps_row)
        answers.addLayout(right, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addLayout(answers, 2)

        self.adapt_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.test_picker.currentIndexChanged.connect(self._show_test)
        self.candidates.currentRowChanged.connect(self._show_candidate)
        self.step_slider.valueChanged.connect(self._show_step)
        self.adapt_button.setEnabled(False)
        if task is not None:
            self.set_task(task)

    # -- the task ---------------------------------------------------------------------------------------------
    def set_task(self, task: Any) -> None:
        """Show a new task; a running adaptation of the previous one is cancelled."""
        self.cancel()
        self.task = task
        self.result = None
        self._clear()
        self.adapt_button.setEnabled(task is not None and self.thread is None)
        if task is not None:
            self.status.setText(f"{task.task_id}: {len(task.train)} demonstrations, {len(task.test)} test input(s).")

    def _clear(self) -> None:
        self._history = []
        for curve in (self.loss_curve, self.acc_curve, self.exact_curve):
            curve.setData([], [])
        self.test_picker.blockSignals(True)
        self.test_picker.clear()
        self.test_picker.blockSignals(False)
        self.candidates.clear()
        self.step_slider.setEnabled(False)
        self.step_label.setText("")
        self.use_button.setEnabled(False)
        self.view.set_grid(np.zeros((1, 1), np.int8))

    # -- running ----------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.thread is not None

    def start(self) -> None:
        if self.task is None or self.thread is not None:
            return
        from dataclasses import replace

        opts = replace(self.options, budget_s=float(self.budget.value()), base=self.base.currentData())
        self._clear()
        self.thread = AdaptThread(self.task, opts, self)
        self.thread.progress.connect(self._on_progress)
        self.thread.finishedWith.connect(self._on_result)
        self.thread.failedWith.connect(self._on_error)
        self.thread.finished.connect(self._on_thread_done)
        self.adapt_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Adapting to {self.task.task_id} for up to {opts.budget_s:g} s ...")
        self.thread.start()

    def cancel(self) -> None:
        if self.thread is not None:
            self.thread.cancel()
            self.status.setText("Stopping after the current step; answering with what was learnt ...")

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop and join the worker (the window calls this on close)."""
        if self.thread is not None:
            self.thread.cancel()
            if not self.thread.wait(timeout_ms):
                self.thread.kill()
                self.thread.wait(timeout_ms)

    def _on_thread_done(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.deleteLater()
        self.cancel_button.setEnabled(False)
        self.adapt_button.setEnabled(self.task is not None)

    def _on_progress(self, p: Any) -> None:
        self._history.append(p)
        steps = [h.step for h in self._history]
        self.loss_curve.setData(steps, [h.loss for h in self._history])
        self.acc_curve.setData(steps, [h.accuracy for h in self._history])
        self.exact_curve.setData(steps, [h.exact_accuracy for h in self._history])
        self.status.setText(f"step {p.step}  {p.elapsed_s:.0f}/{p.budget_s:g} s  loss {p.loss:.3f}  "
                            f"cell accuracy {p.accuracy:.3f}  exact {p.exact_accuracy:.3f}")

    def _on_error(self, message: str) -> None:
        self.status.setText(f"Adaptation failed: {message}")
        self.errorRaised.emit(message)

    def _on_result(self, result: Any) -> None:
        if self.task is None or result.task_id != self.task.task_id:
            return  # a late answer for a task no longer shown
        self.result = result
        verdicts = [p.solved for p in result.predictions]
        known = [v for v in verdicts if v is not None]
        score = f"  pass@2 {sum(known)}/{len(known)}" if known else ""
        how = "stopped early" if result.stopped else "done"
        self.status.setText(f"{how}: {result.train_steps} steps in {result.train_s:.0f} s, {result.num_views} views "
                            f"on a {result.canvas}x{result.canvas} canvas.{score}")
        self.test_picker.blockSignals(True)
        self.test_picker.clear()
        for p in result.predictions:
            mark = "" if p.solved is None else ("  ✓" if p.solved else "  ✗")
            self.test_picker.addItem(f"test {p.index + 1}{mark}")
        self.test_picker.blockSignals(False)
        self._show_test(0)
        self.attemptsReady.emit(result)

    # -- browsing the answers ---------------------------------------------------------------------------------
    def _show_test(self, index: int) -> None:
        self.candidates.clear()
        if self.result is None or not 0 <= index < len(self.result.predictions):
            return
        pred = self.result.predictions[index]
        solution = self.task.test[index].output if self.task is not None else None
        for rank, c in enumerate(pred.candidates):
            label = f"attempt {rank + 1}" if rank < 2 else f"#{rank + 1}"
            right = ""
            if solution is not None and c.grid.shape == np.asarray(solution).shape:
                right = "  ✓" if np.array_equal(c.grid, solution) else ""
            item = QListWidgetItem(f"{label}: {c.votes} vote{'s' if c.votes != 1 else ''}, "
                                   f"halt {c.mean_halt:.2f}{right}")
            self.candidates.addItem(item)
        if pred.candidates:
            self.candidates.setCurrentRow(0)

    def _candidate(self):
        if self.result is None:
            return None
        t, r = self.test_picker.currentIndex(), self.candidates.currentRow()
        if not 0 <= t < len(self.result.predictions):
            return None
        cands = self.result.predictions[t].candidates
        return cands[r] if 0 <= r < len(cands) else None

    def _show_candidate(self, row: int) -> None:
        c = self._candidate()
        if c is None:
            return
        n = len(c.steps)
        self.step_slider.blockSignals(True)
        self.step_slider.setRange(1, max(1, n))
        self.step_slider.setValue(max(1, n))
        self.step_slider.blockSignals(False)
        self.step_slider.setEnabled(n > 1)
        self._show_step(max(1, n))

    def _show_step(self, value: int) -> None:
        c = self._candidate()
        if c is None:
            return
        if c.steps:
            i = min(max(value, 1), len(c.steps)) - 1
            grid = c.steps[i]
            prev = c.steps[i - 1] if i > 0 else None
            changed = None if prev is None or prev.shape != grid.shape else grid != prev
            halt = c.step_halt[i] if i < len(c.step_halt) else float("nan")
            name = c.step_names[i] if i < len(c.step_names) else f"step {i + 1}"
            self.step_label.setText(f"{i + 1}/{len(c.steps)}  {name}  halt {halt:.2f}")
        else:
            grid, changed = c.grid, None
            self.step_label.setText("")
        shown = grid if grid.size else np.zeros((1, 1), np.int8)
        self.view.set_grid(shown, changed=changed, predicted=True)
        self.use_button.setEnabled(bool(grid.size))

    def _on_use(self) -> None:
        grid = self.view.grid
        if self.result is not None and grid.size:
            self.useGrid.emit(max(0, self.test_picker.currentIndex()), np.asarray(grid).copy())
