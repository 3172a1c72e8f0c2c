"""A relative2d maze model runs on each maze's own canvas: smaller mazes without padding, larger ones too."""

from __future__ import annotations

import numpy as np
import torch

from engine import registry
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import TRMConfig
from engine.inference import SolveOptions, solve_puzzle, solve_steps
from engine.model import TRM, with_canvas
from engine.puzzles import maze
from tests.test_engine_cli import dirs  # noqa: F401  (fixture)
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from trm_lab.panels.solve import model_fits
from trm_lab.session import MazeDocument


def _model(side: int, pos_encodings: str = "relative2d") -> TRM:
    torch.manual_seed(0)
    model = TRM(TRMConfig(vocab_size=6, seq_len=side * side, hidden_size=16, num_heads=2, expansion=1.0,
                          H_cycles=2, L_cycles=1, halt_max_steps=3, pos_encodings=pos_encodings))
    with torch.no_grad():
        if pos_encodings == "relative2d":
            model.relative_bias.table.add_(torch.randn_like(model.relative_bias.table))
    return model.eval()


def test_a_maze_runs_on_its_own_canvas_with_the_same_weights(tmp_path):
    path = save_checkpoint(tmp_path / "m9.safetensors", _model(9), encoding=maze.encoding(9), training={})
    loaded = load_checkpoint(path)
    small = maze.generate_one(3, 7, loop_fraction=0.0)
    fitted = loaded.fitted(7, 7)
    assert fitted.encoding.rows == 7 and fitted.config.seq_len == 49 and loaded.fitted(7, 7) is fitted
    assert loaded.fitted(9, 9) is loaded
    steps = list(solve_puzzle(loaded, small.grid, SolveOptions(max_steps=3)))
    assert all(s.grid.shape == (7, 7) for s in steps)
    direct = with_canvas(loaded.model, 7)  # the maze as the whole canvas: no wall padding
    tokens = torch.as_tensor(maze.encode(small.grid))[None]
    last = list(solve_steps(direct, tokens, None, SolveOptions(max_steps=3)))[-1]
    assert np.array_equal(steps[-1].grid, maze.decode(last.tokens[0].numpy(), 7))
    big = maze.generate_one(4, 13, loop_fraction=0.0)  # larger than the canvas it was saved with
    assert list(solve_puzzle(loaded, big.grid, SolveOptions(max_steps=1)))[-1].grid.shape == (13, 13)
    # the bias table keeps the learnt offsets both canvases share
    grown = loaded.fitted(13, 13).model.relative_bias.table.view(2, 25, 25)
    torch.testing.assert_close(grown[:, 4:21, 4:21], loaded.model.relative_bias.table.view(2, 17, 17))


def test_only_relative2d_maze_models_take_larger_mazes(dirs, tmp_path):  # noqa: F811
    rope = save_checkpoint(dirs / "rope9.safetensors", _model(9, "rope"), encoding=maze.encoding(9), training={})
    assert load_checkpoint(rope).fitted(7, 7).encoding.rows == 9  # padded, as before
    assert registry.default_model("maze", 13) is None
    save_checkpoint(dirs / "rel9.safetensors", _model(9), encoding=maze.encoding(9), training={})
    assert registry.default_model("maze", 13).name == "rel9"
    assert registry.default_model("maze", 9).name in ("rel9", "rope9")
    save_checkpoint(dirs / "rel11.safetensors", _model(11), encoding=maze.encoding(11), training={})
    assert registry.default_model("maze", 13).name == "rel11"  # trained nearest the maze's size
    assert registry.default_model("maze", 10).name == "rel11"  # the smallest that holds it, as before


def test_the_solve_panel_offers_a_relative2d_model_for_any_maze():
    doc = MazeDocument(size=21)
    assert not model_fits("maze", 15, doc, "rope")
    assert model_fits("maze", 15, doc, "relative2d")
    assert not model_fits("sudoku", 15, doc, "relative2d")
