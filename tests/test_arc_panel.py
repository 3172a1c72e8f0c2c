"""The "Adapt to this task" panel, offscreen: it trains off the event loop, plots progress and shows the attempts."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from engine.puzzles import arc
from trm_lab.panels.arc_adapt import ArcAdaptPanel

SWAP = np.array([0, 2, 1, 4, 3, 5, 6, 7, 8, 9])


def _task(task_id: str = "swap") -> arc.ArcTask:
    rng = np.random.default_rng(5)
    grids = [rng.integers(0, 5, size=(3, 3)).astype(np.int8) for _ in range(4)]
    pairs = [arc.ArcPair(g, SWAP[g].astype(np.int8)) for g in grids]
    return arc.ArcTask(task_id, pairs[:3], pairs[3:])


def _quick(panel: ArcAdaptPanel, steps: int) -> None:
    from trainers.arc_adapt import AUTO

    assert panel.base.currentData() == AUTO  # the default start: the bundled base where the task fits
    panel.base.setCurrentIndex(panel.base.findData(None))  # a fresh model at test size
    o = panel.options
    o.max_train_steps, o.num_views, o.hidden_size, o.num_heads, o.threads = steps, 4, 32, 2, 1
    o.progress_every_s = 0.05


@pytest.mark.timeout(90)
def test_panel_adapts_offscreen_and_shows_voted_attempts(qtbot):
    panel = ArcAdaptPanel()
    qtbot.addWidget(panel)
    assert not panel.adapt_button.isEnabled()  # nothing to adapt to yet
    panel.set_task(_task())
    assert panel.adapt_button.isEnabled()
    _quick(panel, 12)
    panel.budget.setValue(60)

    ticks = []
    # The event loop keeps running while the model trains: a timer keeps firing during adaptation.
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    with qtbot.waitSignal(panel.attemptsReady, timeout=80_000) as blocker:
        panel.adapt_button.click()
        assert panel.running and panel.cancel_button.isEnabled()
    timer.stop()
    result = blocker.args[0]
    assert result.task_id == "swap" and result.train_steps == 12
    assert len(ticks) > 5

    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    assert panel.adapt_button.isEnabled() and not panel.cancel_button.isEnabled()
    # Progress was plotted.
    xs, ys = panel.loss_curve.getData()
    assert xs is not None and len(xs) >= 1 and xs[-1] == 12
    # Candidates with their votes are listed, attempt 1 first, and drawn in the grid view.
    pred = result.predictions[0]
    assert panel.test_picker.count() == 1
    assert panel.candidates.count() == len(pred.candidates)
    first = panel.candidates.item(0).text()
    assert first.startswith("attempt 1: ") and f"{pred.candidates[0].votes} vote" in first
    shown = pred.candidates[0].grid if pred.candidates[0].grid.size else np.zeros((1, 1))
    assert np.array_equal(panel.view.grid, shown)
    # The step slider walks through that candidate's recursion steps.
    steps = pred.candidates[0].steps
    # Every latent recursion of every supervision step is a frame, named as such.
    o = panel.options
    assert panel.step_slider.maximum() == len(steps) == o.halt_max_steps * o.H_cycles
    assert pred.candidates[0].step_names[-1] == f"step {o.halt_max_steps}"
    panel.step_slider.setValue(1)
    first_step = steps[0] if steps[0].size else np.zeros((1, 1))
    assert np.array_equal(panel.view.grid, first_step)
    assert panel.step_label.text().startswith(f"1/{len(steps)}  step 1, recursion 1 of {o.H_cycles}")


@pytest.mark.timeout(60)
def test_cancel_stops_training_and_still_answers(qtbot):
    panel = ArcAdaptPanel(_task("cancel-me"))  # how the window builds it
    qtbot.addWidget(panel)
    assert panel.adapt_button.isEnabled()
    _quick(panel, None)
    panel.budget.setValue(600)
    with qtbot.waitSignal(panel.attemptsReady, timeout=50_000) as blocker:
        panel.start()
        qtbot.waitUntil(lambda: len(panel._history) >= 1, timeout=30_000)
        panel.cancel_button.click()
    result = blocker.args[0]
    assert result.stopped and result.train_s < 60
    assert "stopped early" in panel.status.text()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    panel.shutdown()
    QApplication.processEvents()


@pytest.mark.timeout(60)
def test_training_runs_in_its_own_process_and_failures_are_messages(qtbot, tmp_path):
    import os

    panel = ArcAdaptPanel(_task("elsewhere"))
    qtbot.addWidget(panel)
    _quick(panel, None)
    panel.budget.setValue(600)
    with qtbot.waitSignal(panel.attemptsReady, timeout=50_000):
        panel.start()
        qtbot.waitUntil(lambda: len(panel._history) >= 1, timeout=30_000)
        child = panel.thread._process
        assert child.is_alive() and child.pid != os.getpid()
        panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    assert not child.is_alive()

    # A base checkpoint that is not there: one line naming the file, reported from the child process.
    panel.base.addItem("missing", str(tmp_path / "missing-base.safetensors"))
    panel.base.setCurrentIndex(panel.base.count() - 1)
    with qtbot.waitSignal(panel.errorRaised, timeout=30_000) as blocker:
        panel.start()
    assert "missing-base.safetensors" in blocker.args[0] and "Traceback" not in blocker.args[0]
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    assert panel.adapt_button.isEnabled()
