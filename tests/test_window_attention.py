"""Neighbourhood (windowed) relative2d attention: the same maths as whole-grid attention with every far offset
masked, the same weights on any canvas, and a start from a whole-grid model."""

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import TRMConfig
from engine.model import TRM, RelativeBias2D, window_attention, with_canvas
from engine.puzzles import maze
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from trainers.checkpointing import start_weights


def _dense_bias(table: torch.Tensor, side: int, window: int) -> torch.Tensor:
    """The window's table written out as a whole-grid (heads, S, S) bias, -inf beyond the window."""
    heads, r = table.shape[0], window // 2
    bias = torch.full((heads, side * side, side * side), float("-inf"))
    for i in range(side * side):
        for j in range(side * side):
            dr, dc = i // side - j // side, i % side - j % side  # query - key, as the whole-grid table
            if abs(dr) <= r and abs(dc) <= r:
                bias[:, i, j] = table.view(heads, window, window)[:, dr + r, dc + r]
    return bias


@pytest.mark.parametrize("side,window", [(6, 3), (5, 5), (4, 7)])
def test_window_attention_is_whole_grid_attention_with_far_cells_masked(side, window):
    torch.manual_seed(side)
    bias = RelativeBias2D(num_heads=2, side=side, prefix_len=0, window=window)
    with torch.no_grad():
        bias.table.normal_()
    q, k, v = (torch.randn(3, 2, side * side, 8) for _ in range(3))
    dense = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5 + _dense_bias(bias.table, side, window), -1) @ v
    torch.testing.assert_close(window_attention(q, k, v, bias()), dense, atol=1e-5, rtol=1e-5)


def _model(side: int, window: int = 3) -> TRM:
    torch.manual_seed(0)
    return TRM(TRMConfig(vocab_size=6, seq_len=side * side, hidden_size=16, num_heads=2, expansion=1.0,
                         H_cycles=1, L_cycles=1, pos_encodings="relative2d", attention_window=window,
                         forward_dtype="float32"))


def test_a_windowed_model_is_the_same_model_on_every_canvas(tmp_path):
    small = _model(6)
    with torch.no_grad():
        small.relative_bias.table.normal_()
    path = save_checkpoint(tmp_path / "w.safetensors", small, encoding=maze.encoding(6), training={})
    loaded = load_checkpoint(path).model
    big = with_canvas(loaded, 11)
    assert torch.equal(big.relative_bias.table, small.relative_bias.table)
    # One layer of 3 x 3 attention sees one cell away: a cell whose neighbourhood is the same on both canvases
    # (interior, same tokens around it) gets the same output after one network application.
    tokens = torch.randint(1, 6, (1, 11 * 11))
    corner = tokens.view(11, 11)[:6, :6].reshape(1, 36)
    outs = []
    for model, t in ((small, corner), (big, tokens)):
        x = model.embed(t)
        y, z = model.initial_state(1)
        layer = model.net.layers[0]
        outs.append(layer(z + x, model.relative_bias()).view(1, model.cfg.grid_side, model.cfg.grid_side, -1))
    torch.testing.assert_close(outs[0][0, 1:5, 1:5], outs[1][0, 1:5, 1:5], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(outs[0][0, 5, 1:5], outs[1][0, 5, 1:5])  # the small canvas's border differs


def test_a_windowed_run_started_from_a_whole_grid_model_computes_what_it_did_beyond_the_window_masked(tmp_path):
    cfg = dict(vocab_size=6, seq_len=36, hidden_size=16, num_heads=2, expansion=1.0, H_cycles=2, L_cycles=2,
               pos_encodings="relative2d", forward_dtype="float32")
    dense = TRM(TRMConfig(**cfg))
    with torch.no_grad():
        table = dense.relative_bias.table.view(2, 11, 11)
        table.normal_()
        path = save_checkpoint(tmp_path / "dense.safetensors", dense, encoding=maze.encoding(6), training={})
        outside = torch.ones(11, 11, dtype=torch.bool)
        outside[4:7, 4:7] = False  # offsets -1..1: a 3 x 3 window
        table[:, outside] = -1e9
    windowed = start_weights(path, TRMConfig(**cfg, attention_window=3))
    tokens = torch.randint(1, 6, (2, 36))
    outs = []
    for model in (dense, windowed):
        x = model.embed(tokens)
        y, z = model.initial_state(2)
        outs.append(model(x, y, z).logits)
    torch.testing.assert_close(outs[1], outs[0], atol=1e-4, rtol=1e-4)
    assert torch.equal(windowed.lm_head.weight, dense.lm_head.weight)


@pytest.mark.parametrize("changes", [{"attention_window": 4}, {"attention_window": 1},
                                     {"attention_window": 3, "pos_encodings": "rope"},
                                     {"attention_window": 3, "puzzle_emb_ndim": 16}])
def test_a_window_needs_an_odd_side_and_relative2d_without_a_prefix(changes):
    base = {"vocab_size": 6, "seq_len": 36, "hidden_size": 16, "num_heads": 2, "pos_encodings": "relative2d"}
    with pytest.raises(ValueError, match="attention_window"):
        TRMConfig(**{**base, **changes})
