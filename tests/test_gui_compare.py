"""Drive the real window's compare view: a TRM and an HRM on one Sudoku, in lockstep, with a QTimer heartbeat."""

from __future__ import annotations

import numpy as np
from test_gui_sudoku import _probe_gaps
from test_gui_support import SUDOKU_LINE, grid_of, pick_model, relist_models, solve_and_wait

from engine.checkpoint import save_checkpoint
from engine.puzzles import sudoku
from tests.test_compare import small_hrm
from trm_lab.session import SudokuDocument


def pick(box, path) -> None:
    index = box.findData(str(path))
    assert index >= 0, [box.itemText(i) for i in range(box.count())]
    box.setCurrentIndex(index)


def test_compare_a_trm_and_an_hrm_in_lockstep_without_stalling(qtbot, window, models, lab_env, dialogs):
    enc = sudoku.encoding(9)
    hrm = save_checkpoint(lab_env / "tiny-hrm9.safetensors", small_hrm(enc), encoding=enc, training={})
    relist_models(qtbot, window)
    view = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    view.right_tabs.setCurrentIndex(1)  # "Compare two models"
    panel = view.compare
    qtbot.waitExposed(panel)
    pick(panel.pickers["A"], models["sudoku"])
    pick(panel.pickers["B"], hrm)
    panel.steps.setValue(12)
    assert panel.compare_button.isEnabled()
    panel.compare()
    qtbot.waitUntil(lambda: panel.session is not None, timeout=30000)
    wall, cpu = _probe_gaps(qtbot, lambda: panel.session.finished, 600000)
    s = panel.session
    assert not dialogs, dialogs
    assert (len(s.a.steps), len(s.b.steps), s.length) == (12, 12, 12) and len(wall) > 5
    gaps = sorted(wall)
    print(f"compare probe: {len(wall)} ticks; worst main-thread work between ticks {max(cpu) * 1000:.1f} ms; "
          f"wall gaps median {gaps[len(gaps) // 2] * 1000:.1f} ms, worst {gaps[-1] * 1000:.1f} ms")
    # The stall the window causes is its own work between two heartbeats: under 50 ms (the models run in solver
    # processes, steps are drawn at most ~12 times a second). Wall gaps also count the OS running other processes
    # on this shared 2-core machine (load 8 while this was written): typical gaps stay at the 10 ms beat, and
    # none is a freeze.
    assert max(cpu) < 0.050, f"the window worked {max(cpu) * 1000:.1f} ms without returning to the event loop"
    assert gaps[len(gaps) // 2] < 0.050 and gaps[-1] < 1.0, f"event loop gaps {gaps[len(gaps) // 2]}, {gaps[-1]}"

    # both answers on one timeline: the last position, then the first, each side its own step
    qtbot.waitUntil(lambda: panel.timeline.slider.maximum() == 11 and panel.timeline.slider.isEnabled(), timeout=5000)
    for position in (11, 0):
        panel.timeline.slider.setValue(position)
        a, b = s.a.display_grid(position), s.b.display_grid(position)
        assert np.array_equal(panel.views["A"].grid, a) and np.array_equal(panel.views["B"].grid, b)
        assert np.array_equal(panel.views["A"].differs, a != b) and np.array_equal(panel.views["B"].differs, a != b)
        assert panel.step_label.text() == f"step {position + 1} of 12 \u00b7 {int((a != b).sum())} cells differ"
    assert int((s.a.display_grid(11) != s.b.display_grid(11)).sum()) > 0  # random models: they disagree
    # both halting curves and the share of differing cells on one plot
    for side, sess in (("A", s.a), ("B", s.b)):
        xs, ys = panel.halt_curves[side].getData()
        assert len(xs) == 12 and np.allclose(ys, sess.halt_series())
    xs, ys = panel.differ_curve.getData()
    assert len(xs) == 12 and np.allclose(ys, s.differ_series())
    # each side: its model, architecture, verdict and time
    assert "TRM" in panel.titles["A"].text() and "HRM" in panel.titles["B"].text()
    for side in ("A", "B"):
        assert " steps in " in panel.verdicts[side].text() and panel.verdicts[side].text().endswith(" s")
    assert panel.compare_button.isEnabled() and not panel.cancel_button.isEnabled()
    # playback moves both sides together
    panel.timeline.slider.setValue(0)
    panel.timeline.toggle_play()
    qtbot.waitUntil(lambda: s.position >= 2, timeout=5000)
    panel.timeline.toggle_play()
    assert np.array_equal(panel.views["B"].grid, s.b.display_grid(s.position))


def test_solve_panel_shows_every_low_level_update_of_an_hrm(qtbot, window, lab_env, dialogs):
    enc = sudoku.encoding(9)
    hrm = save_checkpoint(lab_env / "tiny-hrm9.safetensors", small_hrm(enc), encoding=enc, training={})
    relist_models(qtbot, window)
    view = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    panel = view.solve
    pick_model(panel, hrm)
    panel.steps.setValue(2)
    panel.latent.setChecked(True)
    solve_and_wait(qtbot, panel, timeout=300000)
    s = panel.session
    assert not dialogs, dialogs
    # per supervision step: 2 cycles x (2 low-level updates + the high-level one)
    labels = [s.step_label(i) for i in range(len(s.steps))]
    assert labels[:6] == ["step 1.1 L1", "step 1.1 L2", "step 1.1", "step 1.2 L1", "step 1.2 L2", "step 1"]
    assert len(labels) == 12 and s.planned_steps == 12
    assert all(st.latent_change > 0 for st in s.steps)
    assert not s.steps[1].changed.any()  # a low-level update leaves the answer (read from z_H) as it was
