"""Drive the real window: type a Sudoku, solve it with a model, scrub the timeline, export every format."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QImageReader
from PySide6.QtWidgets import QMessageBox
from test_gui_support import SUDOKU_LINE, grid_of, pick_model, relist_models, solve_and_wait

from engine.puzzles import sudoku
from trm_lab.session import SudokuDocument


def click_cell(qtbot, view, r, c):
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.cell_rect(r, c).center().toPoint())


def test_type_a_sudoku_with_keys_and_undo(qtbot, window):
    view = window.new_sudoku(9)
    grid = view.editor.view
    qtbot.waitExposed(grid)
    click_cell(qtbot, grid, 0, 0)
    qtbot.keyClick(grid, Qt.Key.Key_5)
    qtbot.keyClick(grid, Qt.Key.Key_Right)
    qtbot.keyClick(grid, Qt.Key.Key_3)
    qtbot.keyClick(grid, Qt.Key.Key_Right)
    qtbot.keyClick(grid, Qt.Key.Key_5)  # clashes with the 5 in this row
    doc = view.doc
    assert doc.givens[0, :3].tolist() == [5, 3, 5]
    assert grid.errors[0, 0] and grid.errors[0, 2] and not grid.errors[0, 1]
    assert "clash" in view.editor.status.text()
    qtbot.keyClick(grid, Qt.Key.Key_Backspace)
    assert doc.givens[0, 2] == 0 and not grid.errors.any()
    assert doc.dirty and window.tabs.tabText(window.tabs.currentIndex()).endswith("\u2022")
    window.act_undo.trigger()
    assert doc.givens[0, 2] == 5
    window.act_redo.trigger()
    assert doc.givens[0, 2] == 0
    # arrow keys wrap around; Down from the last row goes to the first
    click_cell(qtbot, grid, 8, 4)
    qtbot.keyClick(grid, Qt.Key.Key_Down)
    assert grid.cursor == (0, 4)


def test_givens_and_entries_look_different(qtbot, window):
    doc = SudokuDocument(9, grid_of(SUDOKU_LINE))
    view = window.add_document(doc)
    grid = view.editor.view
    qtbot.waitExposed(grid)
    assert view.editor.mode_play.isChecked()
    click_cell(qtbot, grid, 0, 0)  # a given: typing is refused
    qtbot.keyClick(grid, Qt.Key.Key_9)
    assert doc.givens[0, 0] == 5 and "given" in view.editor.status.text()
    click_cell(qtbot, grid, 0, 2)
    qtbot.keyClick(grid, Qt.Key.Key_4)
    assert doc.entries[0, 2] == 4 and doc.givens[0, 2] == 0
    assert grid.givens[0, 0] and not grid.givens[0, 2] and grid.entries[0, 2]
    # the two layers are painted in different colours
    img = grid.grab().toImage()
    def ink(r, c):
        rect = grid.cell_rect(r, c).toRect().adjusted(4, 4, -4, -4)
        cols = {img.pixelColor(QPoint(x, y)).name() for x in range(rect.left(), rect.right())
                for y in range(rect.top(), rect.bottom())}
        return cols - {"#ffffff"}
    assert ink(0, 0) and ink(0, 2) and ink(0, 0).isdisjoint({"#2563eb"}) and "#2563eb" in ink(0, 2)


def test_solve_scrub_and_export(qtbot, window, models, tmp_path, dialogs):
    doc = SudokuDocument(9, grid_of(SUDOKU_LINE))
    view = window.add_document(doc)
    panel = view.solve
    pick_model(panel, models["sudoku"])
    panel.steps.setValue(20)
    assert panel.steps_hint.text() == "think longer"
    panel.halt_on.setChecked(False)
    solve_and_wait(qtbot, panel)
    s = panel.session
    assert s.state == "finished" and len(s.steps) == 20
    assert [st.index for st in s.steps] == list(range(1, 21))
    assert panel.timeline.slider.maximum() == 19
    # the verdict compares with the classical solver (a random model does not solve it)
    assert s.verdict is not None and s.verdict.status == "invalid"
    assert panel.verdict.text() == "Invalid" and "s with" in panel.verdict_detail.text()
    expected = sudoku.solve(doc.givens).solution
    assert (s.expected == expected).all()
    # scrub: slider, buttons, shortcuts
    panel.timeline.slider.setValue(4)
    assert s.selected == 4 and "step 5" in panel.step_label.text()
    shown = panel.view.grid
    assert (shown == s.display_grid(4)).all()  # the model's predictions, the givens as given
    assert (shown[doc.givens == 0] == s.steps[4].grid[doc.givens == 0]).all()
    assert (panel.view.givens == (doc.givens > 0)).all()
    assert panel.view.changed is not None and panel.view.confidence is not None
    panel.timeline.next_button.click()
    assert s.selected == 5 and panel.timeline.slider.value() == 5
    window.act_prev.trigger()
    assert s.selected == 4
    assert panel.plot.selected_line.value() == 5
    x, y = panel.halt_curve.getData()
    assert len(x) == 20 and np.allclose(y, [st.halt_prob for st in s.steps])
    acc = panel.acc_curve.getData()[1]
    assert len(acc) == 20 and 0 <= acc.min() <= acc.max() <= 1
    # errors marked against the known answer where the grid is wrong
    errs = panel.view.errors
    assert errs is not None and errs.any()
    # playback runs on a timer and stops at the end
    panel.select_step(15)
    panel.timeline.speed.setCurrentIndex(3)
    panel.timeline.start_playback()
    qtbot.waitUntil(lambda: not panel.timeline.timer.isActive(), timeout=5000)
    assert s.selected == 19

    panel.select_step(7)
    out = {}
    for suffix in ("txt", "csv", "json"):
        out[suffix] = window.export_solution(tmp_path / f"sol.{suffix}")
    grid7 = s.steps[7].grid
    cells = [0 if ch == "." else int(ch) for ch in out["txt"].read_text() if ch.isdigit() or ch == "."]
    assert cells == grid7.ravel().tolist()
    assert np.loadtxt(out["csv"], delimiter=",", dtype=int).tolist() == grid7.tolist()
    assert json.loads(out["json"].read_text()) == {"kind": "sudoku", "grid": grid7.tolist()}
    png = window.export_png(tmp_path / "grid.png")
    assert QImageReader(str(png)).size().width() > 200
    gif = window.export_gif(tmp_path / "steps.gif")
    reader = QImageReader(str(gif))
    assert reader.imageCount() == 20
    strip = window.export_strip(tmp_path / "strip.png")
    assert QImageReader(str(strip)).size().width() > 20 * 300
    written = window.export_model(tmp_path / "exported.safetensors")
    assert written is not None and (tmp_path / "exported.safetensors").read_bytes() == models["sudoku"].read_bytes()
    assert json.loads((tmp_path / "exported.json").read_text())["note"] == "test model"
    assert not list(tmp_path.glob(".*.tmp"))
    assert dialogs == []


def test_halting_threshold_stops_early_and_draws_the_line(qtbot, window, models):
    view = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    panel = view.solve
    pick_model(panel, models["sudoku"])
    panel.halt_on.setChecked(True)
    panel.halt_value.setValue(0.05)  # the first step's halting probability is above this
    solve_and_wait(qtbot, panel)
    assert len(panel.session.steps) == 1
    assert panel.threshold_line.isVisible() and abs(panel.threshold_line.value() - 0.05) < 1e-9


def test_inner_cycles_show_in_the_timeline(qtbot, window, models):
    view = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    panel = view.solve
    pick_model(panel, models["sudoku"])
    panel.steps.setValue(3)
    panel.inner.setChecked(True)
    solve_and_wait(qtbot, panel)
    labels = [panel.session.step_label(i) for i in range(len(panel.session.steps))]
    assert labels == ["step 1.1", "step 1", "step 2.1", "step 2", "step 3.1", "step 3"]


def test_no_fitting_model_says_so(qtbot, window, models):
    view = window.new_sudoku(4)
    panel = view.solve
    assert panel.current_model_path() is None
    assert "No model fits 4\u00d74 Sudoku" in panel.no_model.text()
    assert "9\u00d79" in panel.no_model.text()
    assert not panel.solve_button.isEnabled()


def test_wrong_kind_checkpoint_is_refused_with_a_message(qtbot, window, models, dialogs):
    view = window.new_sudoku(9)
    shown = dialogs
    view.solve.add_checkpoint(models["maze"])
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert "maze model" in shown[0] and "cannot solve" in shown[0]


def start_long_solve(qtbot, window, models):
    """A 9x9 Sudoku solving for 256 steps: long enough to interrupt."""
    view = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    panel = view.solve
    pick_model(panel, models["sudoku"])
    panel.steps.setValue(256)
    with qtbot.waitSignal(panel.sessionStarted, timeout=30000):
        panel.solve()
    return panel


def test_cancel_stops_the_solve(qtbot, window, models):
    panel = start_long_solve(qtbot, window, models)
    qtbot.waitUntil(lambda: len(panel.session.steps) >= 2, timeout=30000)
    window.act_cancel.trigger()
    qtbot.waitUntil(lambda: panel.session.state != "running", timeout=30000)
    assert panel.session.state == "cancelled" and len(panel.session.steps) < 256
    assert panel.verdict.text().startswith("Cancelled")
    assert panel.solve_button.isEnabled()


def _probe_gaps(qtbot, until, timeout_ms: int) -> tuple[list[float], list[float]]:
    """Run a 10 ms QTimer until `until()` holds; return the wall-clock gaps between ticks and the main thread's
    CPU time spent in each gap (the work the window itself did between two ticks)."""
    import time

    wall: list[float] = []
    cpu: list[float] = []
    last = [time.perf_counter(), time.thread_time()]

    def tick():
        t, c = time.perf_counter(), time.thread_time()
        wall.append(t - last[0])
        cpu.append(c - last[1])
        last[:] = [t, c]

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)
    probe.start()
    qtbot.waitUntil(until, timeout=timeout_ms)
    probe.stop()
    return wall, cpu


def test_event_loop_never_stalls_while_steps_stream(qtbot, window, lab_env):
    """A 10 ms QTimer probe during a live 48-step solve: the event loop keeps ticking.

    Two measures: the main thread's CPU time between ticks (the window's own work, which must stay < 50 ms) and the
    wall-clock gap. The solver runs in its own process, so nothing else can hold the event loop; on a shared 2-core
    machine under load (10+) the OS alone delays ticks by 50-200 ms now and then, so the wall gap is only held to
    "no freeze" (< 300 ms); on an idle machine it stays under 50 ms.
    """
    import time

    from test_gui_support import make_checkpoint

    heavier = make_checkpoint(lab_env / "probe-sudoku9.safetensors", sudoku.encoding(9), hidden=64, layers=2)
    relist_models(qtbot, window)
    view = window.add_document(SudokuDocument(9, grid_of(SUDOKU_LINE)))
    panel = view.solve
    pick_model(panel, heavier)
    panel.steps.setValue(48)
    qtbot.wait(200)
    t_end = time.perf_counter() + 1.0
    idle, _ = _probe_gaps(qtbot, lambda: time.perf_counter() > t_end, 5000)
    with qtbot.waitSignal(panel.sessionStarted, timeout=30000):
        panel.solve()
    wall, cpu = _probe_gaps(qtbot, lambda: panel.session.state != "running", 60000)
    assert len(panel.session.steps) == 48
    assert len(wall) > 5
    print(f"event-loop probe: {len(wall)} ticks; worst main-thread work between ticks {max(cpu) * 1000:.1f} ms; "
          f"worst wall gap {max(wall) * 1000:.1f} ms (idle window: {max(idle) * 1000:.1f} ms)")
    assert max(cpu) < 0.050, f"the window worked {max(cpu) * 1000:.1f} ms without returning to the event loop"
    assert max(wall) < 0.300, f"event loop stalled {max(wall) * 1000:.1f} ms"


def test_unsaved_changes_prompt_on_close(qtbot, window, monkeypatch, tmp_path):
    view = window.new_sudoku(9)
    view.doc.set_cell(0, 0, 7)
    asked = []

    def answer(choice):
        def fake(*args, **kwargs):
            asked.append(args[2])
            return choice
        return fake

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not window.close_tab(window.tabs.indexOf(view))
    assert window.tabs.indexOf(view) >= 0 and "unsaved changes" in asked[-1]
    assert not window.close()  # closing the window is refused too
    # Save: the Save-As dialog answers with a path, then the tab closes
    target = tmp_path / "mine.txt"
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.close_tab(window.tabs.indexOf(view))
    assert sudoku.load(target)[0].givens[0, 0] == 7
    # Discard closes without writing
    v2 = window.new_sudoku(9)
    v2.doc.set_cell(1, 1, 3)
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    assert window.close_tab(window.tabs.indexOf(v2))
    assert len(asked) == 4
    # clean documents close without a question
    v3 = window.new_sudoku(9)
    assert window.close_tab(window.tabs.indexOf(v3)) and len(asked) == 4


def test_broken_reference_checkpoint_gives_a_dialog(qtbot, window, tmp_path, dialogs):
    ref = tmp_path / "step_100"
    ref.write_bytes(b"not a torch checkpoint")
    view = window.new_sudoku(9)
    view.solve.add_checkpoint(ref)
    qtbot.waitUntil(lambda: bool(dialogs), timeout=30000)
    assert "Could not open the checkpoint" in dialogs[0] and ("step_100" in dialogs[0] or "all_config" in dialogs[0])
    assert view.solve.current_model_path() != str(ref)


def test_bundled_models_come_first(qtbot, window, lab_env):
    from test_gui_support import make_checkpoint

    bundled = lab_env.parents[2] / "bundled"
    make_checkpoint(bundled / "zz-bundled-sudoku9.safetensors", sudoku.encoding(9))
    relist_models(qtbot, window)
    view = window.new_sudoku(9)
    box = view.solve.model_box
    labels = [box.itemText(i) for i in range(box.count())]
    assert labels[0].startswith("zz-bundled-sudoku9") and "bundled" in labels[0]
    assert "yours" in labels[1] and labels[-1] == "Open checkpoint\u2026"


def test_a_dying_solver_process_becomes_a_message(qtbot, window, models, dialogs):
    panel = start_long_solve(qtbot, window, models)
    qtbot.waitUntil(lambda: panel.thread is not None and panel.thread._solver is not None
                    and len(panel.session.steps) >= 1, timeout=30000)
    panel.thread._solver.process.kill()
    qtbot.waitUntil(lambda: panel.session.state != "running", timeout=30000)
    assert panel.session.state == "failed" and panel.verdict.text() == "Failed"
    assert dialogs and "solve failed" in dialogs[0]
    assert panel.solve_button.isEnabled()


def test_the_bundled_4x4_model_solves_in_the_window(qtbot, window, lab_env):
    """End to end with a real trained model: the bundled sudoku4 (its card: 100 % exact on 7-10 givens)."""
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "assets" / "models" / "sudoku4.safetensors"
    bundled = lab_env.parents[2] / "bundled"
    shutil.copy(src, bundled / src.name)
    relist_models(qtbot, window)
    puzzle = sudoku.generate(1, seed=5, clues=(8, 8), size=4, workers=1)[0]
    view = window.add_document(SudokuDocument(4, puzzle.givens, puzzle.solution))
    panel = view.solve
    assert panel.model_box.itemText(0).startswith("sudoku4") and "bundled" in panel.model_box.itemText(0)
    solve_and_wait(qtbot, panel)
    s = panel.session
    assert s.verdict.status == "solved" and panel.verdict.text() == "Solved"
    assert (s.steps[-1].grid == puzzle.solution).all()
    assert not panel.view.errors.any()
