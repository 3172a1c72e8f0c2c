"""Paint a maze by dragging, place start and goal, show the BFS path, generate, and solve it with a model."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QPushButton
from test_gui_support import pick_model, relist_models, solve_and_wait

from engine.puzzles import maze


def drag(view, cells, button=Qt.MouseButton.LeftButton):
    """A real press / move / release sequence over the given cells."""
    def send(kind, r, c, buttons):
        pos = view.cell_rect(r, c).center()
        ev = QMouseEvent(kind, pos, view.mapToGlobal(pos.toPoint()).toPointF(), button, buttons,
                         Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(view, ev)

    send(QMouseEvent.Type.MouseButtonPress, *cells[0], button)
    for r, c in cells[1:]:
        send(QMouseEvent.Type.MouseMove, r, c, button)
    send(QMouseEvent.Type.MouseButtonRelease, *cells[-1], Qt.MouseButton.NoButton)


def test_paint_place_path_and_undo(qtbot, window):
    view = window.new_maze(10)
    ed = view.editor
    qtbot.waitExposed(ed.view)
    doc = view.doc
    assert doc.grid.shape == (10, 10)
    # a wall across row 5, leaving a gap at column 8
    ed.set_tool(maze.WALL)
    drag(ed.view, [(5, c) for c in range(1, 8)])
    assert (doc.grid[5, 1:8] == maze.WALL).all() and doc.grid[5, 8] == maze.OPEN
    assert doc.history.undo_label == "Paint walls"
    # a drag is one undo step
    before = doc.grid.copy()
    drag(ed.view, [(2, c) for c in range(2, 6)])
    window.act_undo.trigger()
    assert (doc.grid == before).all()
    # right-drag erases
    drag(ed.view, [(5, 3), (5, 4)], Qt.MouseButton.RightButton)
    assert (doc.grid[5, 3:5] == maze.OPEN).all()
    drag(ed.view, [(5, 3), (5, 4)])  # back to walls
    # start and goal are unique: placing moves them
    ed.tool_buttons[maze.START].click()
    drag(ed.view, [(1, 2)])
    ed.tool_buttons[maze.GOAL].click()
    drag(ed.view, [(8, 2)])
    assert (doc.grid == maze.START).sum() == 1 and doc.grid[1, 2] == maze.START
    assert (doc.grid == maze.GOAL).sum() == 1 and doc.grid[8, 2] == maze.GOAL
    # the BFS path goes around the wall through the gap at column 8
    ed.show_path.setChecked(True)
    path = ed.view.path
    assert path is not None and path[5, 8] and not path[5, 1:8].any()
    assert "shortest path" in ed.status.text()
    expected = maze.shortest_path(doc.grid)
    assert (path == (expected == maze.PATH)).all()
    # resize keeps the top-left and is undoable
    ed.rows.setValue(12)
    ed.cols.setValue(8)
    next(b for b in ed.findChildren(QPushButton) if b.text() == "Resize").click()
    assert doc.grid.shape == (12, 8)
    window.act_undo.trigger()
    assert doc.grid.shape == (10, 10)


def test_generate_and_solve_a_maze(qtbot, window, models, dialogs):
    view = window.new_maze(10)
    doc = view.doc
    with qtbot.waitSignal(doc_changed(doc), timeout=30000):
        view.editor.generateRequested.emit(10)
    assert doc.grid.shape == (10, 10) and (doc.grid == maze.START).sum() == 1
    assert doc.solution is not None and doc.history.can_undo
    panel = view.solve
    pick_model(panel, models["maze"])
    panel.steps.setValue(5)
    solve_and_wait(qtbot, panel)
    s = panel.session
    assert len(s.steps) == 5 and s.verdict is not None
    assert s.steps[0].grid.shape == (10, 10)
    assert s.verdict.status in ("invalid", "different", "solved")
    assert (s.expected == doc.solution).all()
    # walls kept by the model are never marked; a path over a wall would be
    errs = s.errors_at(len(s.steps) - 1)
    grid = s.steps[-1].grid
    assert not (errs & (grid == doc.grid) & (doc.grid != maze.OPEN)).any()
    assert dialogs == []


def test_smaller_maze_fits_a_larger_model_and_bigger_does_not(qtbot, window, models):
    small = window.new_maze(8)
    assert small.solve.current_model_path() == str(models["maze"])
    big = window.new_maze(15)
    assert big.solve.current_model_path() is None
    assert "No model fits 15\u00d715 maze" in big.solve.no_model.text()


def doc_changed(doc):
    """A Qt signal that fires on the document's next content change (documents themselves are Qt-free)."""
    from PySide6.QtCore import QObject, Signal

    class Relay(QObject):
        changed = Signal()

    relay = Relay()
    doc.subscribe(lambda what: what == "content" and relay.changed.emit())
    doc._relay = relay  # keep it alive with the document
    return relay.changed


def test_maze_file_round_trip(qtbot, window, tmp_path):
    grid = np.full((7, 7), maze.OPEN, np.int8)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = maze.WALL
    grid[1, 1], grid[5, 5] = maze.START, maze.GOAL
    path = tmp_path / "m.txt"
    maze.save(path, [maze.Maze(grid=grid, solution=None)])
    window.open_path(path)
    qtbot.waitUntil(lambda: window.current_document() is not None and window.current_document().path == path,
                    timeout=30000)
    doc = window.current_document()
    assert doc.kind == "maze" and (doc.grid == grid).all()
    doc.paint([(3, 3)], maze.WALL)
    assert doc.dirty
    assert window.save()
    assert not doc.dirty and maze.load(path)[0].grid[3, 3] == maze.WALL
    assert str(path.resolve()) in window.settings.recent_files


def test_checkpoint_from_training_opens_in_a_fitting_puzzle(qtbot, window, models, dialogs):
    window.open_checkpoint_in_solver(str(models["maze"]))
    qtbot.waitUntil(lambda: window.current_document() is not None
                    and window.current_view().solve.current_model_path() == str(models["maze"]), timeout=30000)
    assert window.current_document().kind == "maze" and dialogs == []


def test_bundled_maze_models_solve_mazes_of_other_sizes(qtbot, window, lab_env):
    """End to end with the real bundled relative2d models: an 11x11 maze on its own canvas, and a 21x21 maze (larger
    than any model) offered the one trained nearest its size."""
    import shutil
    from pathlib import Path

    from trm_lab.session import MazeDocument

    bundled = lab_env.parents[2] / "bundled"
    for name in ("maze9", "maze15"):
        shutil.copy(Path(__file__).resolve().parents[1] / "assets" / "models" / f"{name}.safetensors", bundled)
    relist_models(qtbot, window)
    m = maze.generate(1, seed=12, size=11, loops=0.0, workers=1)[0]
    view = window.add_document(MazeDocument(m.grid))
    panel = view.solve
    assert panel.model_box.itemText(0).startswith("maze15")  # the smallest trained at least this large
    solve_and_wait(qtbot, panel)
    assert panel.session.verdict.status == "solved", panel.verdict_detail.text()
    assert panel.session.steps[-1].grid.shape == (11, 11)
    big = window.new_maze(21)
    assert big.solve.model_box.itemText(0).startswith("maze15") and big.solve.current_model_path() is not None
