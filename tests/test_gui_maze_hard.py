"""Maze-Hard-style mazes in the window: the Generate dialog's style, and the puzzle it makes."""

from __future__ import annotations

import numpy as np

from engine.puzzles import maze as mz
from trm_lab.widgets.generate_dialog import GenerateDialog


def test_generate_dialog_makes_a_maze_hard_grid(qtbot, window):
    dialog = GenerateDialog("maze", 15)
    qtbot.addWidget(dialog)
    mazes = dialog.pages["maze"]
    mazes.style.setCurrentIndex(1)
    assert mazes.size.value() == 30  # the benchmark's size is offered with the style
    mazes.size.setValue(14)
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


def test_the_steps_box_follows_the_chosen_model_and_keeps_edits(qtbot, window, lab_env):
    from engine.checkpoint import save_checkpoint
    from engine.config import TRMConfig
    from engine.model import TRM
    from trm_lab.panels.solve import list_models_cached

    cfg = TRMConfig.from_dict(dict(hidden_size=16, num_heads=2, L_layers=1, H_cycles=1, L_cycles=1,
                                   halt_max_steps=24, vocab_size=6, seq_len=100, pos_encodings="relative2d",
                                   puzzle_emb_ndim=0))
    path = lab_env / "deep-maze10.safetensors"
    save_checkpoint(path, TRM(cfg), encoding=mz.encoding(10), training={"preset": "test", "steps": 0})
    list_models_cached(refresh=True)
    view = window.new_maze(10)
    panel = view.solve
    panel.refresh_models()
    panel.model_box.setCurrentIndex(panel.model_box.findData(str(path)))
    assert panel.steps.value() == 24  # its trained count, not the box's 16
    panel.steps.setValue(7)
    panel.refresh_models()  # an edit of the puzzle refreshes the list: the user's steps stay
    assert panel.steps.value() == 7


def test_generate_dialog_fields_line_up_on_every_page(qtbot):
    """Each kind's options sit in a form of their own inside the dialog's; their fields start where Kind's does."""
    dialog = GenerateDialog("sudoku", 9)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    left = dialog.kind.mapTo(dialog, dialog.kind.rect().topLeft()).x()
    for name, page in dialog.pages.items():
        dialog.kind.setCurrentIndex(list(dialog.pages).index(name))
        qtbot.wait(10)
        fields = [page.size, page.clues] if name == "sudoku" else [page.style, page.size]
        assert [f.mapTo(dialog, f.rect().topLeft()).x() for f in fields] == [left] * len(fields), name
    assert dialog.seed.mapTo(dialog, dialog.seed.rect().topLeft()).x() == left


def test_the_picker_follows_the_puzzle_until_the_user_chooses(qtbot, window, lab_env):
    """A random-wall maze ranks the random-wall model first; a corridor maze loaded into the same tab then gets the
    corridor model (the picker's own choice follows the puzzle), while a model the user chose stays chosen."""
    from engine.checkpoint import save_checkpoint
    from engine.config import TRMConfig
    from engine.model import TRM
    from trm_lab.panels.solve import list_models_cached

    for name, side, style in (("walls20", 20, "hard"), ("corridors15", 15, "dfs")):
        cfg = TRMConfig.from_dict(dict(hidden_size=16, num_heads=2, L_layers=1, H_cycles=1, L_cycles=1, vocab_size=6,
                                       seq_len=side * side, pos_encodings="relative2d", puzzle_emb_ndim=0))
        save_checkpoint(lab_env / f"{name}.safetensors", TRM(cfg), encoding=mz.encoding(side),
                        training={"preset": "test", "steps": 0, "dataset": {"maze_style": style, "size": side}})
    list_models_cached(refresh=True)
    view = window.new_maze(15)
    panel = view.solve
    panel.refresh_models()

    def picked() -> str:
        return panel.model_box.currentText().split()[0]

    corridors = mz.generate(1, seed=3, size=15, loops=0.0, workers=1)[0]
    walls = mz.generate(1, seed=3, size=15, style="hard", workers=1)[0]
    view.doc.replace(walls.grid, walls.solution)
    assert picked() == "walls20"
    view.doc.replace(corridors.grid, corridors.solution)
    assert picked() == "corridors15"
    panel.model_box.setCurrentIndex(next(i for i in range(panel.model_box.count())
                                         if panel.model_box.itemText(i).startswith("walls20")))
    view.doc.replace(walls.grid, walls.solution)
    view.doc.replace(corridors.grid, corridors.solution)
    assert picked() == "walls20"  # the user's choice
