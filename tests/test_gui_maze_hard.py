"""Maze-Hard-style mazes in the window: the Generate dialog's style, and the puzzle it makes."""

from __future__ import annotations

import numpy as np
from test_gui_support import dialogs, lab_env, models, window  # noqa: F401

from engine.puzzles import maze as mz
from trm_lab.widgets.generate_dialog import GenerateDialog


def test_generate_dialog_makes_a_maze_hard_grid(qtbot, window):  # noqa: F811
    dialog = GenerateDialog("maze", 15)
    qtbot.addWidget(dialog)
    dialog.maze_style.setCurrentIndex(1)
    assert dialog.maze_size.value() == 30  # the benchmark's size is offered with the style
    dialog.maze_size.setValue(14)
    request = dialog.request()
    assert (request.kind, request.style, request.size) == ("maze", "hard", 14)
    window.generate(request)
    qtbot.waitUntil(lambda: window.current_document() is not None and window.current_document().kind == "maze",
                    timeout=30000)
    grid = np.asarray(window.current_document().grid)
    assert grid.shape == (14, 14)
    assert mz.shortest_path_length(grid) >= mz.hard_min_path(14)
    open_ = grid != mz.WALL  # random walls leave open 2x2 blocks; corridor mazes never do
    assert np.any(open_[:-1, :-1] & open_[1:, :-1] & open_[:-1, 1:] & open_[1:, 1:])
