import torch

from engine.config import TRMConfig
from engine.model import TRM, count_parameters, swiglu_width


def test_paper_configs_have_the_papers_parameter_counts():
    # Paper: 5M parameters for TRM-MLP on Sudoku-Extreme, 7M for TRM-Att on Maze-Hard.
    sudoku = TRMConfig(vocab_size=11, seq_len=81, mixer="mlp", pos_encodings="none", puzzle_emb_ndim=512)
    maze = TRMConfig(vocab_size=6, seq_len=900, puzzle_emb_ndim=512, L_cycles=4)
    assert count_parameters(TRM(sudoku)) == 5_023_234
    assert count_parameters(TRM(maze)) == 6_819_842


def test_swiglu_width_matches_reference_rounding():
    assert swiglu_width(512, 4) == 1536
    assert swiglu_width(97, 4) == 512


def test_one_supervision_step_has_gradients_only_through_the_last_cycle():
    cfg = TRMConfig(vocab_size=11, seq_len=16, hidden_size=32, num_heads=2, H_cycles=2, L_cycles=2)
    model = TRM(cfg)
    x = model.embed(torch.randint(1, 11, (3, 16)))
    y, z = model.initial_state(3)
    out = model(x, y, z)
    assert out.logits.shape == (3, 16, 11)
    assert not out.y.requires_grad and not out.z.requires_grad
    out.logits.square().mean().backward()
    assert model.embed_tokens.weight.grad.abs().sum() > 0
