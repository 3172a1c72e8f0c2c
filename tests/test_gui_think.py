"""Think harder in the window: width x depth with the bundled sudoku9 on a puzzle its plain 16 steps get wrong; the
timeline shows the chosen trajectory and switches to others, the plot draws every trajectory's halting confidence,
the verdict names the winner and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from test_gui_support import relist_models, solve_and_wait

from engine.puzzles import sudoku
from trm_lab.session import SudokuDocument


def test_think_harder_solves_and_lets_the_user_browse_trajectories(qtbot, window, lab_env):
    src = Path(__file__).resolve().parents[1] / "assets" / "models" / "sudoku9.safetensors"
    shutil.copy(src, lab_env.parents[2] / "bundled" / src.name)
    relist_models(qtbot, window)
    puzzle = sudoku.generate_one(10, (22, 24))  # sudoku9's plain 16 steps answer this one wrongly
    view = window.add_document(SudokuDocument(9, puzzle.givens, puzzle.solution))
    panel = view.solve
    assert panel.think_row.isVisibleTo(panel) and not panel.think_width.isEnabled()
    panel.think_on.setChecked(True)
    assert panel.think_width.isEnabled() and not panel.steps.isEnabled() and not panel.inner.isEnabled()
    panel.think_width.setValue(8)
    panel.think_depth.setValue(16)
    solve_and_wait(qtbot, panel, timeout=400000)  # a shared 2-core machine under load starts the solver slowly
    s = panel.session
    qtbot.waitUntil(lambda: panel.trajectory_row.isVisibleTo(panel), timeout=5000)
    chosen = s.chosen
    assert s.verdict.status == "solved" and panel.verdict.text() == "Solved"
    assert chosen > 0 and f"Trajectory {chosen + 1} of 8 won" in panel.verdict_detail.text()
    assert "obeys every rule" in panel.verdict_detail.text()
    assert (s.steps[-1].grid == puzzle.solution).all() and len(s.steps) < 16  # stopped at the first valid answer
    # the picker lists every trajectory, the chosen one marked and selected
    assert panel.trajectory_box.count() == 8 and panel.trajectory_box.currentIndex() == chosen
    assert "chosen" in panel.trajectory_box.itemText(chosen) and "valid" in panel.trajectory_box.itemText(chosen)
    assert panel.trajectory_box.itemText(0).startswith("1: as given")
    # the plot holds each trajectory's halting confidence at every step
    curves = [c for c in panel.trajectory_curves if len(c.getData()[0])]
    assert len(curves) == 8 and all(len(c.getData()[1]) == len(s.steps) for c in curves)
    assert np.allclose(curves[chosen].getData()[1], s.halt_series())
    # switch the timeline to the puzzle as given: its answer is not valid, and the grid shows its errors
    panel.trajectory_box.setCurrentIndex(0)
    panel.trajectory_box.activated.emit(0)
    assert s.trajectory == 0 and not sudoku.is_valid_solution(puzzle.givens, s.steps[-1].grid)
    assert panel.view.errors.any()
    assert np.allclose(panel.halt_curve.getData()[1], curves[0].getData()[1])
    panel.trajectory_box.setCurrentIndex(chosen)
    panel.trajectory_box.activated.emit(chosen)
    assert s.shown is None and (s.steps[-1].grid == puzzle.solution).all() and not panel.view.errors.any()
