import numpy as np
import pytest
import torch

from engine.checkpoint import LoadedModel
from engine.config import TRMConfig
from engine.inference import SolveOptions, pick_device, solve_puzzle, solve_steps
from engine.model import TRM
from engine.puzzles import arc, maze, sudoku
from engine.puzzles.base import PuzzleError
from tests.test_engine_support import (
    mapping_model,
    single_thread,  # noqa: F401  (autouse fixture)
)

CPU = dict(device="cpu")


def random_model(seed=0, **kw) -> TRM:
    torch.manual_seed(seed)
    cfg = TRMConfig(vocab_size=6, seq_len=16, hidden_size=32, num_heads=2, H_cycles=3, L_cycles=2,
                    puzzle_emb_ndim=32, puzzle_emb_len=1, num_puzzle_identifiers=2, **kw)
    model = TRM(cfg).eval()
    with torch.no_grad():
        model.puzzle_emb.weight.normal_()
        model.q_head.weight.normal_(std=0.3)
    return model


def test_steps_follow_the_model_and_scale_past_the_trained_count():
    model = random_model()
    inputs = torch.randint(1, 6, (3, 16))
    ids = torch.tensor([0, 1, 1])
    steps = list(solve_steps(model, inputs, ids, SolveOptions(max_steps=20, **CPU)))
    assert [s.index for s in steps] == list(range(1, 21)) and model.cfg.halt_max_steps == 16
    assert all(s.cycle is None for s in steps)
    with torch.no_grad():
        x = model.embed(inputs, ids)
        y, z = model.initial_state(3)
        previous = inputs
        for step in steps:
            out = model(x, y, z)
            y, z = out.y, out.z
            assert torch.equal(step.tokens, out.logits.argmax(-1))
            probs = out.logits.softmax(-1)
            assert torch.allclose(step.confidence, probs.max(-1).values, atol=1e-6)
            assert torch.allclose(step.halt_prob, torch.sigmoid(out.q_halt), atol=1e-6)
            assert torch.equal(step.changed, step.tokens != previous)
            previous = step.tokens
    assert all(s1.elapsed_s <= s2.elapsed_s for s1, s2 in zip(steps, steps[1:], strict=False))
    assert not steps[-1].halted.any()


def test_micro_batches_give_the_same_steps():
    model = random_model(seed=2, mixer="mlp", pos_encodings="none")
    inputs = torch.randint(1, 6, (5, 16))
    whole = list(solve_steps(model, inputs, options=SolveOptions(max_steps=3, micro_batch=5, **CPU)))
    split = list(solve_steps(model, inputs, options=SolveOptions(max_steps=3, micro_batch=2, **CPU)))
    for a, b in zip(whole, split, strict=True):
        assert torch.equal(a.tokens, b.tokens)
        assert torch.allclose(a.halt_prob, b.halt_prob, atol=1e-6)
        assert torch.allclose(a.confidence, b.confidence, atol=1e-5)


def test_inner_cycles_yield_each_cycle_then_the_full_step():
    model = random_model(mixer="mlp", pos_encodings="none")
    inputs = torch.randint(1, 6, (2, 16))
    plain = list(solve_steps(model, inputs, options=SolveOptions(max_steps=2, **CPU)))
    inner = list(solve_steps(model, inputs, options=SolveOptions(max_steps=2, inner_cycles=True, **CPU)))
    assert [(s.index, s.cycle) for s in inner] == [(1, 1), (1, 2), (1, None), (2, 1), (2, 2), (2, None)]
    for a, b in zip([s for s in inner if s.cycle is None], plain, strict=True):
        assert torch.equal(a.tokens, b.tokens) and torch.allclose(a.halt_prob, b.halt_prob)
    assert torch.equal(inner[1].changed, inner[1].tokens != inner[0].tokens)


def test_halted_puzzles_freeze_while_the_others_continue():
    model = random_model(seed=3)
    with torch.no_grad():
        model.q_head.weight.normal_(std=1.0)
    inputs = torch.randint(1, 6, (4, 16))
    ids = torch.tensor([0, 1, 1, 0])
    free = list(solve_steps(model, inputs, ids, SolveOptions(max_steps=5, **CPU)))
    p = torch.stack([s.halt_prob for s in free])  # (steps, B)
    threshold = float(p[0].max() + p[0].min()) / 2
    assert (p[0] > threshold).any() and not (p[0] > threshold).all()
    halt_at = [next((k for k in range(5) if p[k, b] > threshold), None) for b in range(4)]
    frozen = list(solve_steps(model, inputs, ids, SolveOptions(max_steps=5, halt_threshold=threshold, **CPU)))
    last = 4 if None in halt_at else max(halt_at)
    assert len(frozen) == last + 1  # the iterator stops once every puzzle has halted
    for k, step in enumerate(frozen):
        for b in range(4):
            source = k if halt_at[b] is None else min(k, halt_at[b])
            assert torch.equal(step.tokens[b], free[source].tokens[b])
            assert torch.allclose(step.halt_prob[b], free[source].halt_prob[b], atol=1e-5)
            assert bool(step.halted[b]) == (halt_at[b] is not None and k >= halt_at[b])


def test_the_iterator_stops_when_every_puzzle_has_halted():
    halting = mapping_model(sudoku.encoding(4), {}, halt_logits={2: 4.0})
    inputs = torch.tensor([[2] + [1] * 15, [3] + [1] * 15])
    steps = list(solve_steps(halting, inputs, options=SolveOptions(max_steps=4, halt_threshold=0.9, **CPU)))
    assert [s.halted.tolist() for s in steps] == [[True, False]] * 4
    steps = list(solve_steps(halting, inputs[:1], options=SolveOptions(max_steps=4, halt_threshold=0.9, **CPU)))
    assert len(steps) == 1 and steps[0].halted.all()


def test_bfloat16_runs_on_a_copy_and_stays_close():
    model = random_model(seed=1)
    inputs = torch.randint(1, 6, (4, 16))
    f32 = list(solve_steps(model, inputs, options=SolveOptions(max_steps=2, **CPU)))
    bf16 = list(solve_steps(model, inputs, options=SolveOptions(max_steps=2, dtype="bfloat16", **CPU)))
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is not cast
    agree = (f32[-1].tokens == bf16[-1].tokens).float().mean()
    assert agree > 0.7 and bf16[-1].confidence.dtype == torch.float32
    assert torch.allclose(f32[-1].halt_prob, bf16[-1].halt_prob, atol=0.05)
    with pytest.raises(ValueError, match="dtype"):
        next(solve_steps(model, inputs, options=SolveOptions(dtype="int8", **CPU)))


def test_consumers_can_stop_early_and_inference_mode_does_not_leak():
    model = random_model()
    it = solve_steps(model, torch.randint(1, 6, (1, 16)), options=SolveOptions(max_steps=100, **CPU))
    first = next(it)
    assert not torch.is_inference_mode_enabled()
    first.tokens.add_(0)  # results are ordinary tensors the consumer may modify
    it.close()
    with pytest.raises(ValueError, match="takes 16 tokens"):
        next(solve_steps(model, torch.ones(1, 9, dtype=torch.long), options=SolveOptions(**CPU)))


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device("auto").type == expected


def loaded(model, encoding):
    return LoadedModel(model=model, config=model.cfg, encoding=encoding)


def test_solve_puzzle_decodes_sudoku_maze_and_arc_grids():
    enc = sudoku.encoding(4)
    lm = loaded(mapping_model(enc, {1: 4}), enc)  # every blank becomes a 3 (token 4)
    grid = np.array([[1, 2, 0, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 0, 2, 1]])
    steps = list(solve_puzzle(lm, grid, SolveOptions(max_steps=2, **CPU)))
    assert len(steps) == 2 and steps[0].grid.shape == (4, 4)
    assert np.array_equal(steps[0].grid, np.where(grid == 0, 3, grid))
    assert steps[0].changed.tolist() == (grid == 0).tolist() and not steps[1].changed.any()
    assert steps[0].confidence.shape == (4, 4) and isinstance(steps[0].halt_prob, float)
    with pytest.raises(PuzzleError, match="4x4 Sudoku"):
        next(solve_puzzle(lm, np.zeros((9, 9), dtype=int)))

    enc = maze.encoding(8)
    lm = loaded(mapping_model(enc, {2: 5}), enc)  # open cells become path
    small = maze.parse("#####\n#S  #\n# # #\n#  G#\n#####").grid
    steps = list(solve_puzzle(lm, small, SolveOptions(max_steps=1, **CPU)))
    assert steps[0].grid.shape == small.shape and steps[0].confidence.shape == small.shape
    assert np.array_equal(steps[0].grid, np.where(small == 1, 4, small))

    enc = arc.encoding(10)
    lm = loaded(mapping_model(enc, {3: 4}), enc)  # colour 1 -> colour 2
    grid = np.array([[1, 0, 5], [1, 1, 7]])
    step = next(solve_puzzle(lm, grid, SolveOptions(max_steps=1, **CPU)))
    assert np.array_equal(step.grid, np.where(grid == 1, 2, grid)) and step.changed.sum() == 3
