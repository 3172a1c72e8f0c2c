"""Open ARC tasks (bundled browser and JSON files), edit the output with every tool, check it, solve, export."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt
from test_gui_support import pick_model, solve_and_wait

from engine.puzzles import arc


def task_file(tmp_path):
    data = {
        "train": [{"input": [[1, 0], [0, 0]], "output": [[1, 1], [1, 1]]},
                  {"input": [[0, 2], [0, 0]], "output": [[2, 2], [2, 2]]}],
        "test": [{"input": [[0, 0, 0], [0, 3, 0], [0, 0, 0]], "output": [[3, 3, 3], [3, 0, 3], [3, 3, 3]]}],
    }
    path = tmp_path / "fill.json"
    path.write_text(json.dumps(data))
    return path


def press(qtbot, view, r, c, button=Qt.MouseButton.LeftButton):
    qtbot.mouseClick(view, button, pos=view.cell_rect(r, c).center().toPoint())


def open_file(qtbot, window, path):
    window.open_path(path)
    qtbot.waitUntil(lambda: window.current_document() is not None and window.current_document().path == path,
                    timeout=30000)
    return window.current_view()


def test_every_output_tool_then_check(qtbot, window, tmp_path):
    view = open_file(qtbot, window, task_file(tmp_path))
    ed, doc = view.editor, view.doc
    qtbot.waitExposed(ed.output_view)
    assert doc.output.shape == (3, 3) and not doc.output.any()
    assert ed.check() is False and "differ" in ed.result.text()
    # copy from input
    ed.copy_input_button.click()
    assert (doc.output == doc.test_input).all()
    # flood fill the zeros with green (3) -- a ring around the centre... which is also 3: fill then fix
    ed.set_colour(3)
    ed.set_tool("fill")
    press(qtbot, ed.output_view, 0, 0)
    assert (doc.output == 3).all()
    # paint the centre black with the Edit tool (key 0 picks black)
    ed.set_tool("paint")
    qtbot.keyClick(ed.output_view, Qt.Key.Key_0)
    assert ed.colour == 0
    press(qtbot, ed.output_view, 1, 1)
    assert doc.output[1, 1] == 0
    assert ed.check() is True and "Correct" in ed.result.text()
    # undo the paint -> wrong again; redo -> right
    window.act_undo.trigger()
    assert doc.output[1, 1] == 3 and ed.check() is False
    window.act_redo.trigger()
    assert ed.check() is True
    # select on the input, copy (C), select a cell of the output, paste (V)
    ed.select(ed.input_view, 1, 1, 2, 2)
    qtbot.keyClick(ed.input_view, Qt.Key.Key_C)
    assert ed.clipboard.tolist() == [[3, 0], [0, 0]]
    ed.select(ed.output_view, 0, 0, 0, 0)
    qtbot.keyClick(ed.output_view, Qt.Key.Key_V)
    assert doc.output[:2, :2].tolist() == [[3, 0], [0, 0]]
    # copy from the output itself and paste clipped at the corner
    ed.select(ed.output_view, 0, 0, 1, 1)
    assert ed.copy_selection()
    ed.select(ed.output_view, 2, 2, 2, 2)
    assert ed.paste_at_selection()
    assert doc.output[2, 2] == 3
    # resize keeps the top-left, reset goes back to 3x3 black
    ed.rows.setValue(4)
    ed.cols.setValue(5)
    ed.resize_button.click()
    assert doc.output.shape == (4, 5) and doc.output[0, 0] == 3 and doc.output[3, 4] == 0
    ed.reset_button.click()
    assert doc.output.shape == (3, 3) and not doc.output.any()
    assert doc.dirty


def test_browser_search_and_open_bundled_task(qtbot, window):
    window.show_arc_browser()
    b = window.arc_browser
    qtbot.waitUntil(lambda: len(b.tasks) > 300, timeout=60000)
    assert b.list.count() == len(b.tasks)
    some_id = sorted(b.tasks)[5]
    b.search.setText(some_id[:6])
    assert 1 <= b.list.count() < len(b.tasks)
    assert all(some_id[:6] in b.list.item(i).text() for i in range(b.list.count()))
    b.search.setText(some_id)
    qtbot.keyClick(b.search, Qt.Key.Key_Return)
    doc = window.current_document()
    assert doc is not None and doc.kind == "arc" and doc.task.task_id == some_id
    view = window.current_view()
    assert len(doc.task.train) >= 1 and view.editor.input_view.grid.shape == doc.test_input.shape
    # ARC-AGI-2 is there too
    b.corpus.setCurrentIndex(2)
    qtbot.waitUntil(lambda: b._loaded_key == ("arc2", "train") and len(b.tasks) > 500, timeout=60000)


def test_solve_an_arc_task_and_export_submission(qtbot, window, models, tmp_path, dialogs):
    view = open_file(qtbot, window, task_file(tmp_path))
    panel = view.solve
    pick_model(panel, models["arc"])
    panel.steps.setValue(2)
    solve_and_wait(qtbot, panel)
    s = panel.session
    assert len(s.steps) == 2 and s.verdict.status in ("invalid", "solved")
    # use the model's answer as the output, then export the submission format
    panel.use_answer.click()
    assert (view.doc.output == s.steps[-1].grid).all()
    out = window.export_solution(tmp_path / "submission.json")
    sub = json.loads(out.read_text())
    assert list(sub) == ["fill"]
    assert sub["fill"][0]["attempt_1"] == np.asarray(s.steps[-1].grid).tolist()
    assert sub["fill"][0]["attempt_2"] == sub["fill"][0]["attempt_1"]
    assert dialogs == []


def test_save_task_keeps_the_answer_and_reopens(qtbot, window, tmp_path):
    view = open_file(qtbot, window, task_file(tmp_path))
    view.doc.copy_from_input()
    target = tmp_path / "copy.json"
    assert window._write(view.doc, target)
    task = arc.load_task(target)
    assert task.test[0].output.tolist() == [[3, 3, 3], [3, 0, 3], [3, 3, 3]]  # the known output is kept


def test_bad_task_file_gives_a_dialog_naming_the_problem(qtbot, window, tmp_path, dialogs):
    bad = tmp_path / "broken.json"
    bad.write_text('{"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []}')
    window.open_path(bad)
    qtbot.waitUntil(lambda: bool(dialogs), timeout=30000)
    assert "broken.json" in dialogs[0]
    assert window.current_document() is None
