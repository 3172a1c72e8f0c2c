"""What a new user met in the window (issue 17), each driven through the real widgets: the menus, the editors,
the Adapt panel with a real (tiny) adaptation, the solve panel and the exports."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QToolButton
from test_gui_support import pick_model, solve_and_wait

from engine.checkpoint import save_checkpoint
from engine.config import TRMConfig
from engine.model import TRM
from engine.puzzles import arc, maze
from trm_lab.session import MazeDocument

SLOW = 240_000  # ms: a solve spawns the solver process, whose torch import took 35 s on the shared 2-core machine
SWAP = np.array([0, 2, 1, 4, 3, 5, 6, 7, 8, 9])


def swap_task_file(tmp_path):
    """A colour-swap task (1<->2, 3<->4) with a known test output, as a task file."""
    rng = np.random.default_rng(5)
    grids = [rng.integers(0, 5, size=(3, 3)) for _ in range(4)]
    pairs = [{"input": g.tolist(), "output": SWAP[g].tolist()} for g in grids]
    path = tmp_path / "swap.json"
    path.write_text(json.dumps({"train": pairs[:3], "test": pairs[3:]}))
    return path


def open_file(qtbot, window, path):
    window.open_path(path)
    qtbot.waitUntil(lambda: window.current_document() is not None and window.current_document().path == path,
                    timeout=30000)
    return window.current_view()


def quick_adapt_options(panel, steps: int = 6) -> None:
    panel.base.setCurrentIndex(panel.base.findData(None))  # a fresh tiny model: seconds, not minutes
    o = panel.options
    o.max_train_steps, o.num_views, o.hidden_size, o.num_heads, o.threads = steps, 4, 32, 2, 1
    o.progress_every_s = 0.05


def adapt(qtbot, view):
    panel = view.adapt
    quick_adapt_options(panel)
    with qtbot.waitSignal(panel.attemptsReady, timeout=90_000) as blocker:
        panel.adapt_button.click()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    return blocker.args[0]


def test_file_new_maze_opens_a_maze_tab(qtbot, window, dialogs):
    """Item 1: File > New > New Maze (Ctrl+Shift+N) crashed with a TypeError."""
    window.act_new_maze.trigger()
    doc = window.current_document()
    assert isinstance(doc, MazeDocument) and doc.grid.shape == (15, 15)
    assert (doc.grid == maze.START).sum() == 1 and (doc.grid == maze.GOAL).sum() == 1
    assert dialogs == []


@pytest.mark.timeout(120)
def test_adapt_keeps_the_users_output_and_the_submission_carries_the_attempts(qtbot, window, tmp_path, dialogs):
    """Items 2 and 3: Adapt replaced the user's correct output; the submission held the wrong grids."""
    view = open_file(qtbot, window, swap_task_file(tmp_path))
    doc, ed = view.doc, view.editor
    # the user builds the right output and checks it
    doc.set_output(doc.test_output, "Paint")
    assert ed.check() is True
    # before any adaptation the submission carries the user's output, as both attempts, and says so
    sub_path = window.export_solution(tmp_path / "before.json")
    entry = json.loads(sub_path.read_text())["swap"][0]
    assert entry["attempt_1"] == entry["attempt_2"] == doc.test_output.tolist()
    assert "your output" in window.statusBar().currentMessage()
    result = adapt(qtbot, view)
    # the user's output is untouched, Check still says Correct
    assert np.array_equal(doc.output, doc.test_output) and ed.check() is True
    # the submission now carries the adaptation's two attempts, and says so
    sub_path = window.export_solution(tmp_path / "after.json")
    entry = json.loads(sub_path.read_text())["swap"][0]
    tries = result.predictions[0].attempts
    assert entry["attempt_1"] == np.asarray(tries[0]).tolist()
    assert entry["attempt_2"] == np.asarray(tries[1]).tolist()
    assert "adaptation" in window.statusBar().currentMessage()
    # "Use as output" in the Adapt panel copies the shown attempt on request; Undo brings the user's back
    view.adapt.use_button.click()
    assert np.array_equal(doc.output, view.adapt.view.grid)
    window.act_undo.trigger()
    assert np.array_equal(doc.output, doc.test_output)
    assert dialogs == []


def embedding_model(path):
    """An ARC model with a learnt embedding per task, as arc-base has (random weights, tiny)."""
    torch.manual_seed(0)
    enc = arc.encoding(12)
    cfg = TRMConfig(vocab_size=enc.vocab_size, seq_len=enc.seq_len, hidden_size=16, num_heads=2, expansion=2.0,
                    L_layers=1, H_cycles=2, L_cycles=1, halt_max_steps=1, pos_encodings="rope",
                    puzzle_emb_ndim=16, puzzle_emb_len=1, num_puzzle_identifiers=20, forward_dtype="float32")
    save_checkpoint(path, TRM(cfg), encoding=enc, training={"preset": "test"})
    return path


@pytest.mark.timeout(120)
def test_solve_with_a_per_task_model_leads_to_adapt_then_shows_the_adapted_answer(qtbot, window, lab_env,
                                                                                    tmp_path, dialogs):
    """Item 4: arc-base on a task it never adapted to answered with noise (a blank task embedding)."""
    base = embedding_model(lab_env / "tiny-arc-base.safetensors")
    window.refresh_models()
    qtbot.waitUntil(lambda: any(m.name == "tiny-arc-base" for m in (window_models() or [])), timeout=30000)
    view = open_file(qtbot, window, swap_task_file(tmp_path))
    panel = view.solve
    pick_model(panel, base)
    panel.solve_button.click()
    qtbot.waitUntil(lambda: panel.verdict.text() == "Adapt to this task first", timeout=30000)
    assert panel.session is None  # nothing was solved with a blank embedding
    assert view.page == "adapt"  # the user is taken to Adapt
    assert "Adapt to this task" in panel.verdict_detail.text()
    result = adapt(qtbot, view)
    # the adapted model's answer, step by step, is now in the solve panel with a verdict
    s = panel.session
    best = result.predictions[0].candidates[0]
    assert s is not None and s.state == "finished" and len(s.steps) == len(best.steps)
    assert np.array_equal(s.steps[-1].grid, best.grid)
    assert "adapted to swap" in s.model_name and s.verdict is not None
    # the output the user had not touched got attempt 1 (undoable)
    assert np.array_equal(view.doc.output, result.predictions[0].attempts[0])
    assert view.doc.history.undo_label == "Use adapted answer"
    assert panel.verdict.text() in ("Solved", "Invalid")
    assert " s with" not in panel.verdict_detail.text()  # a replay was not timed: no "in 0.00 s"
    # Solve with the per-task model now replays the adapted answer instead of guessing
    panel.solve_button.click()
    qtbot.waitUntil(lambda: panel.session is not s and panel.session is not None, timeout=30000)
    assert np.array_equal(panel.session.steps[-1].grid, best.grid)
    assert dialogs == []


def window_models():
    from trm_lab.panels.solve import cached_models

    return cached_models()


def open_maze() -> np.ndarray:
    """A 10 x 10 room: walls round the edge, S top-left, G bottom-right."""
    grid = np.full((10, 10), maze.OPEN, np.int8)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = maze.WALL
    grid[1, 1], grid[8, 8] = maze.START, maze.GOAL
    return grid


def walled_maze() -> np.ndarray:
    """The room with a wall right across it."""
    grid = np.full((10, 10), maze.OPEN, np.int8)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = maze.WALL
    grid[5, :] = maze.WALL  # a wall right across: S cannot reach G
    grid[1, 1], grid[8, 8] = maze.START, maze.GOAL
    return grid


def test_a_puzzle_without_solution_says_so_before_and_after_solving(qtbot, window, models, dialogs):
    """Item 7: a walled-off maze got "Invalid - breaks the rules in 0 cells"; clashing givens went unmentioned."""
    view = window.new_maze(10)
    view.doc.replace(walled_maze(), None)
    panel = view.solve
    assert panel.puzzle_note.isVisible() and "no solution" in panel.puzzle_note.text()
    assert "walls cut the start off" in panel.puzzle_note.text()
    pick_model(panel, models["maze"])
    panel.steps.setValue(2)
    solve_and_wait(qtbot, panel, SLOW)
    assert panel.session.verdict.status == "nosolution"
    assert panel.verdict.text() == "No solution" and "no solution" in panel.verdict_detail.text()
    # opening the wall again: the note goes
    view.editor.set_tool(0)
    view.doc.paint([(5, 4)], 1)
    assert not panel.puzzle_note.isVisible()
    # a Sudoku whose givens clash says so as soon as they do
    sview = window.new_sudoku(9)
    sview.doc.set_cell(0, 0, 5)
    assert not sview.solve.puzzle_note.isVisible()
    sview.doc.set_cell(0, 7, 5)
    assert sview.solve.puzzle_note.isVisible() and "givens clash" in sview.solve.puzzle_note.text()
    assert dialogs == []


def test_givens_are_drawn_as_given_and_disagreement_is_marked(qtbot, window, models, tmp_path):
    """Item 8: a given 5 was drawn as a bold 2 (the model's prediction there), on screen and in the strip."""
    from PySide6.QtGui import QImage
    from test_gui_support import SUDOKU_LINE, grid_of

    from trm_lab import export
    from trm_lab.session import SudokuDocument

    givens = grid_of(SUDOKU_LINE)
    view = window.add_document(SudokuDocument(9, givens))
    panel = view.solve
    pick_model(panel, models["sudoku"])
    panel.steps.setValue(3)
    solve_and_wait(qtbot, panel, SLOW)
    s = panel.session
    mask = givens > 0
    disagree = mask & (np.asarray(s.steps[0].grid) != givens)
    assert disagree.any()  # the random tiny model predicts other digits at some givens
    for i in range(len(s.steps)):
        panel.select_step(i)
        shown = panel.view.grid
        assert (shown[mask] == givens[mask]).all()  # every given drawn as given
        wrong = mask & (np.asarray(s.steps[i].grid) != givens)
        assert (panel.view.errors[wrong]).all()  # and marked where the model disagrees
    # the exported strip draws the same grids: its first frame is the on-screen step 1
    out = window.export_strip(tmp_path / "steps.png")
    strip = export.image_to_rgb(QImage(str(out)))
    frame = window._frames(view)[0]
    first = export.image_to_rgb(frame)
    assert np.array_equal(strip[: first.shape[0], : first.shape[1]], first)
    raw = export.render_grid("sudoku", np.asarray(s.steps[0].grid), cell=36, givens=mask, predicted=True,
                             confidence=s.steps[0].confidence, changed=s.steps[0].changed, errors=s.errors_at(0))
    assert not np.array_equal(export.image_to_rgb(raw), first[: raw.height(), : raw.width()])


def test_a_file_of_several_puzzles_offers_each_with_the_count(qtbot, window, tmp_path, monkeypatch):
    """Item 5: sudoku-famous-hard.csv (6 puzzles) opened only its first, silently."""
    from pathlib import Path

    from PySide6.QtWidgets import QMessageBox

    from engine.puzzles import sudoku

    src = Path(__file__).resolve().parents[1] / "assets" / "puzzles" / "sudoku-famous-hard.csv"
    path = tmp_path / src.name
    path.write_bytes(src.read_bytes())
    puzzles = sudoku.load(path)
    assert len(puzzles) == 6
    view = open_file(qtbot, window, path)
    assert view.picker.isVisible() and view.puzzle_box.count() == 6
    assert window.tabs.tabText(window.tabs.currentIndex()).startswith("sudoku-famous-hard.csv (1/6)")
    # step to the next one, then pick the last from the list
    next_button = [b for b in view.picker.findChildren(QToolButton) if b.text() == "\u25b6"][0]
    next_button.click()
    assert np.array_equal(view.doc.givens, puzzles[1].givens) and not view.doc.dirty
    assert np.array_equal(view.editor.view.grid, puzzles[1].givens)
    view.puzzle_box.setCurrentIndex(5)
    assert np.array_equal(view.doc.givens, puzzles[5].givens)
    assert "(6/6)" in window.tabs.tabText(window.tabs.currentIndex())
    # edits are not thrown away without asking
    view.doc.mode = "play"
    r, c = map(int, np.argwhere(view.doc.givens == 0)[0])
    view.doc.set_cell(r, c, 1)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    view.puzzle_box.setCurrentIndex(0)
    assert view.doc.collection_index == 5 and view.puzzle_box.currentIndex() == 5 and view.doc.entries[r, c] == 1
    # Save never writes one puzzle over the file of six: it asks for a new name
    asked = []
    monkeypatch.setattr("trm_lab.main_window.QFileDialog.getSaveFileName",
                        lambda *a, **k: asked.append(a[2]) or (str(tmp_path / "one.txt"), ""))
    assert window.save(view)
    assert asked and asked[0].endswith("sudoku-famous-hard-6.txt")
    assert len(sudoku.load(path)) == 6 and len(sudoku.load(tmp_path / "one.txt")) == 1
    assert not view.picker.isVisible()


def test_a_changed_puzzle_marks_the_old_answer_out_of_date(qtbot, window, models):
    """Item 6: after the maze was resized or a digit undone, the old answer and verdict stayed as if current."""
    from test_gui_support import SUDOKU_LINE, grid_of

    from trm_lab.session import SudokuDocument

    view = window.new_maze(10)
    panel = view.solve
    pick_model(panel, models["maze"])
    panel.steps.setValue(2)
    solve_and_wait(qtbot, panel, SLOW)
    verdict = panel.verdict.text()
    assert verdict != "Out of date" and not panel.view.stale
    # resize through the editor's own controls
    view.editor.rows.setValue(9)
    view.editor.cols.setValue(9)
    next(b for b in view.editor.findChildren(QPushButton) if b.text() == "Resize").click()
    assert panel.verdict.text() == "Out of date" and "changed" in panel.verdict_detail.text()
    assert "Out of date" in panel.view.stale
    window.act_undo.trigger()  # the old puzzle is back: so is its verdict
    assert panel.verdict.text() == verdict and not panel.view.stale
    # a Sudoku given taken away
    sview = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    pick_model(sview.solve, models["sudoku"])
    sview.solve.steps.setValue(2)
    solve_and_wait(qtbot, sview.solve, SLOW)
    sview.editor.mode_givens.setChecked(True)
    sview.doc.set_cell(0, 0, 0)
    assert sview.solve.verdict.text() == "Out of date" and sview.solve.view.stale
    window.act_undo.trigger()
    assert sview.solve.verdict.text() != "Out of date"


def test_solving_makes_the_refinement_the_main_stage_with_kind_words(qtbot, window, models):
    """Item 12: the refinement was a thumbnail beside a half-window editor; verdicts said "breaks the rules in 205
    cells" of a maze."""
    from PySide6.QtCore import QPoint

    from engine.puzzles.kind import get_kind

    def describe_mistakes(kind, question, grid):
        return get_kind(kind).describe_mistakes(question, grid, None)

    view = window.new_maze(10)
    view.doc.replace(open_maze(), None)
    assert view.page == "puzzle"
    panel = view.solve
    pick_model(panel, models["maze"])
    panel.steps.setValue(3)
    solve_and_wait(qtbot, panel, SLOW)
    assert view.page == "refinement"  # solving brought the refinement forward
    stage_grid = panel.view
    assert stage_grid.isVisible() and stage_grid.width() >= view.editor.width() * 0.8
    # the stage shows the selected step, captioned
    panel.select_step(0)
    assert np.array_equal(stage_grid.grid, panel.session.display_grid(0))
    assert panel.step_label.text().startswith("step 1 of 3")
    # the editor is a click away: the "Puzzle" tab
    bar = view.left_tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(0).center())
    assert view.page == "puzzle" and view.editor.isVisible()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center() + QPoint(0, 0))
    assert view.page == "refinement"
    # the verdict speaks of routes, not of rules broken in cells
    v = panel.session.verdict
    if v.status == "invalid":
        assert "Breaks the rules" not in v.message and ("path" in v.message.lower() or "wall" in v.message)
    # the words themselves, on answers made by hand
    grid = open_maze()
    best = __import__("engine.puzzles.maze", fromlist=["x"]).shortest_path(grid)
    detour = best.copy()
    detour[1:5, 3] = np.where(detour[1:5, 3] == 1, 4, detour[1:5, 3])  # extra cells beside the route
    assert "not a shortest route: 3 cells too many" in describe_mistakes("maze", grid, detour)
    row = grid.copy()
    row[8, 8], row[1, 8] = maze.OPEN, maze.GOAL  # G on S's row: the one shortest route is that row
    route = __import__("engine.puzzles.maze", fromlist=["x"]).shortest_path(row)
    off = route.copy()
    off[2, 3:6] = 4
    assert "not a shortest route: 3 cells off it" in describe_mistakes("maze", row, off)
    broken = best.copy()
    broken[broken == 4] = 1
    broken[1, 2] = 4
    assert "does not connect the start to the goal" in describe_mistakes("maze", grid, broken)
    over = best.copy()
    over[0, 0] = 4
    assert "over 1 wall" in describe_mistakes("maze", grid, over)
    sud = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]])
    wrong = sud.copy()
    wrong[0, 0], wrong[0, 1] = 2, 0  # a given changed (it now repeats the 2 below it), a cell emptied
    words = describe_mistakes("sudoku", np.where(np.eye(4, dtype=bool), sud, 0), wrong)
    assert "repeat a digit" in words and "1 given changed" in words and "1 cell left empty" in words


def test_checkpoints_trained_in_the_session_join_the_solve_panels(qtbot, window, tmp_path):
    """Item 10: a checkpoint trained in the Training tab did not appear in the solve panels' model lists."""
    from test_gui_support import make_checkpoint

    from engine.puzzles import sudoku

    run = tmp_path / "jobs" / "my-run" / "checkpoints"
    run.mkdir(parents=True)
    ck = make_checkpoint(run / "step_250.safetensors", sudoku.encoding(9), hidden=16)
    view = window.new_sudoku(9)
    with qtbot.waitSignal(window.modelsListed, timeout=30000):
        window.offer_trained_checkpoints([str(ck)])  # what the Training tab's checkpointsFound drives
    box = view.solve.model_box
    labels = [box.itemText(i) for i in range(box.count())]
    i = box.findData(str(ck))
    assert i >= 0 and "my-run/step_250" in labels[i] and "trained here" in labels[i]
    # a maze tab is not offered a Sudoku checkpoint
    mview = window.new_maze(10)
    assert mview.solve.model_box.findData(str(ck)) < 0


def test_the_smaller_rough_edges(qtbot, window, lab_env, tmp_path, monkeypatch, dialogs):
    """Item 11: export before solving, Ctrl+Y, another tab's status, the export folder, the training range hint,
    clickable actions on the Start page."""
    from pathlib import Path

    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QFileDialog
    from test_gui_support import SUDOKU_LINE, grid_of

    from engine.puzzles import sudoku
    from trm_lab.session import SudokuDocument

    # the Start page's actions are buttons
    window.tabs.setCurrentWidget(window.welcome)
    window.start_buttons["New maze"].click()
    assert isinstance(window.current_document(), MazeDocument)
    window.tabs.setCurrentWidget(window.welcome)
    window.start_buttons["sudoku-famous-hard.csv"].click()
    qtbot.waitUntil(lambda: window.current_document() is not None
                    and window.current_document().title.startswith("sudoku-famous-hard.csv"), timeout=30000)
    famous = window.current_view()
    # the first export dialog starts in the home folder, not the install's puzzles folder; then where it went
    seen = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: seen.append(a[2]) or ("", ""))
    window.export_png()
    assert seen and Path(seen[-1]).parent == Path.home()
    # export before solving: an unsolved Sudoku is refused with a message, nothing written
    assert window.export_solution(tmp_path / "nothing.txt") is None
    assert not (tmp_path / "nothing.txt").exists() and "Nothing solved" in dialogs[-1]
    # a maze exports its BFS shortest path, and says so
    maze_view = next(v for v in window.views() if isinstance(v.doc, MazeDocument))
    window.tabs.setCurrentWidget(maze_view)
    out = window.export_solution(tmp_path / "maze.txt")
    assert out is not None and "o" in out.read_text() and "BFS" in window.statusBar().currentMessage()
    window.export_png()  # after an export: where it went
    assert Path(seen[-1]).parent == tmp_path
    # Ctrl+Y redoes
    assert QKeySequence("Ctrl+Y") in window.act_redo.shortcuts()
    doc = maze_view.doc
    before = doc.grid.copy()
    doc.paint([(2, 2)], 0)
    window.act_undo.trigger()
    assert np.array_equal(doc.grid, before)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    maze_view.editor.view.setFocus()
    qtbot.keyClick(window.focusWidget() or window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert doc.grid[2, 2] == 0
    # a background tab's messages stay out of the status bar
    window.tabs.setCurrentWidget(famous)
    window.statusBar().clearMessage()
    maze_view.message.emit("Solved in 0.1 s (3 steps)")
    assert "Solved" not in window.statusBar().currentMessage()
    famous.message.emit("Loaded a model")
    assert window.statusBar().currentMessage() == "Loaded a model"
    # a puzzle outside what the model learnt gets a hint
    trained = lab_env / "ranged-sudoku9.safetensors"
    torch.manual_seed(0)
    enc = sudoku.encoding(9)
    cfg = TRMConfig(vocab_size=enc.vocab_size, seq_len=enc.seq_len, hidden_size=16, num_heads=2, expansion=2.0,
                    L_layers=1, H_cycles=2, L_cycles=1, halt_max_steps=2, pos_encodings="rope",
                    forward_dtype="float32")
    save_checkpoint(trained, TRM(cfg), encoding=enc, training={"dataset": {"kind": "sudoku", "clues": [24, 50]}})
    with qtbot.waitSignal(window.modelsListed, timeout=30000):
        window.refresh_models()
    sview = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))  # 30 givens: inside 24-50
    pick_model(sview.solve, trained)
    assert not sview.solve.puzzle_note.isVisible()
    sview.editor.mode_givens.setChecked(True)
    for r, c in np.argwhere(sview.doc.givens > 0)[:9]:  # down to 21 givens
        sview.doc.set_cell(int(r), int(c), 0)
    note = sview.solve.puzzle_note
    assert note.isVisible() and "trained on 24-50 givens; this puzzle has 21" in note.text()


def test_the_window_fits_960x640_and_640x480(qtbot, window, models, tmp_path):
    """Item 9: at 960x640 the timeline covered the last row and the verdict met the plot's axis; at 640x480
    widgets piled up. The 960x640 picture is kept in the test's output folder."""
    from PySide6.QtCore import QRect
    from test_gui_support import SUDOKU_LINE, grid_of

    from trm_lab.session import SudokuDocument

    view = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    panel = view.solve
    pick_model(panel, models["sudoku"])
    panel.steps.setValue(3)
    solve_and_wait(qtbot, panel, SLOW)

    def rect_in_window(w) -> QRect:
        return QRect(w.mapTo(window, w.rect().topLeft()), w.size())

    for size in ((960, 640), (640, 480)):
        window.resize(*size)
        qtbot.waitUntil(lambda size=size: (window.width(), window.height()) == size, timeout=5000)
        qtbot.wait(50)
        grid, slider = panel.view, panel.timeline.slider
        # the whole grid, with its last row, and the timeline under it are on screen, apart
        shown = window.rect()
        assert shown.contains(rect_in_window(grid)) and shown.contains(rect_in_window(slider))
        assert rect_in_window(grid).bottom() < rect_in_window(slider).top()
        cell = grid.cell_rect(8, 8)
        assert cell.bottom() <= grid.height() and cell.height() >= 10
        # the verdict sits clear of the plot
        assert not rect_in_window(panel.verdict).intersects(rect_in_window(panel.plot))
        assert not rect_in_window(panel.verdict_detail).intersects(rect_in_window(panel.plot))
        out = tmp_path / f"window-{size[0]}x{size[1]}.png"
        assert window.grab().save(str(out)) and out.stat().st_size > 5000
    assert window.minimumSizeHint().width() <= 640 and window.minimumSizeHint().height() <= 480
