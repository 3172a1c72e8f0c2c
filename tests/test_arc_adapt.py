"""Adaptation really learns a task from its demonstrations, stops on request, and fits a frozen base model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.model import TRM
from engine.puzzles import arc
from trainers.arc_adapt import AdaptError, AdaptOptions, adapt_and_predict, fresh_config, predict, prepare, train

SWAP = np.array([0, 2, 1, 4, 3, 5, 6, 7, 8, 9])  # colour rule: 1 <-> 2, 3 <-> 4


def colour_task(seed: int = 1, size: int = 5, demos: int = 4) -> arc.ArcTask:
    rng = np.random.default_rng(seed)
    grids = [rng.integers(0, 5, size=(size, size)).astype(np.int8) for _ in range(demos + 1)]
    pairs = [arc.ArcPair(g, SWAP[g].astype(np.int8)) for g in grids]
    return arc.ArcTask(f"swap{seed}", pairs[:demos], pairs[demos:])


# A CPU-light setting that learns the colour swap in ~120 steps (one thread: the test machine is shared).
FAST = dict(base=None, num_views=8, lr=3e-3, puzzle_emb_lr=3e-2, halt_max_steps=2, hidden_size=32, num_heads=2,
            threads=1, progress_every_s=0.2)


@pytest.mark.timeout(400)  # ~15 CPU-seconds; the generous wall limit is for a heavily shared machine
def test_adaptation_solves_a_colour_mapping_task():
    task = colour_task()
    seen = []
    result = adapt_and_predict(task, AdaptOptions(budget_s=60, clock="cpu", max_train_steps=150, **FAST),
                                on_progress=seen.append)
    assert result.canvas == 6 and result.num_views == 8
    assert result.train_steps == 150
    assert seen and seen[-1].accuracy > seen[0].accuracy
    pred = result.predictions[0]
    assert pred.solved is True and result.score == 1.0
    assert np.array_equal(pred.attempts[0], task.test[0].output)  # the vote winner is the answer
    assert sum(c.votes for c in pred.candidates) == 8  # every view voted once
    best = pred.candidates[0]
    # The recursion behind the answer: 2 supervision steps x T=2 latent recursions, each named.
    assert len(best.steps) == len(best.step_halt) == 4
    assert best.step_names == ["step 1, recursion 1 of 2", "step 1", "step 2, recursion 1 of 2", "step 2"]
    assert np.array_equal(best.steps[-1], best.grid)


def test_untrained_model_does_not_solve_it():
    """The control for the test above: the same pipeline with no training gets the task wrong."""
    result = adapt_and_predict(colour_task(), AdaptOptions(budget_s=10, max_train_steps=0, **FAST))
    assert result.train_steps == 0 and result.predictions[0].solved is False


def test_stop_request_ends_training_and_still_answers():
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = adapt_and_predict(colour_task(), AdaptOptions(budget_s=60, **FAST), should_stop=should_stop)
    assert result.stopped and result.train_steps == 3
    assert len(result.predictions) == 1 and len(result.predictions[0].attempts) == 2


def test_base_model_with_frozen_weights_learns_only_puzzle_embeddings(tmp_path):
    opts = AdaptOptions(budget_s=30, max_train_steps=5, **FAST)
    torch.set_num_threads(1)
    base = TRM(fresh_config(8 * 8, 50, opts))
    with torch.no_grad():
        base.puzzle_emb.weight.normal_()
    path = save_checkpoint(tmp_path / "arc-tiny.safetensors", base, encoding=arc.encoding(8), training={})

    frozen = {**FAST, "base": str(path), "freeze_weights": True}
    adapted = prepare(colour_task(), AdaptOptions(**frozen))
    assert adapted.data.canvas == 8  # the base's canvas, not the task's own 6
    assert adapted.model.puzzle_emb.weight.shape[0] == 9  # blank + 8 views
    start = {k: v.clone() for k, v in adapted.model.state_dict().items()}
    assert torch.allclose(start["puzzle_emb.weight"][1], base.puzzle_emb.weight[1:].mean(0))
    train(adapted, AdaptOptions(budget_s=30, max_train_steps=5, **frozen))
    after = adapted.model.state_dict()
    for name, tensor in after.items():
        if name == "puzzle_emb.weight":
            assert not torch.equal(tensor, start[name])
        else:
            assert torch.equal(tensor, start[name]), name
    assert len(predict(adapted, opts)) == 1

    big = arc.ArcTask("big", [arc.ArcPair(np.zeros((9, 9), np.int8), np.zeros((9, 9), np.int8))],
                      [arc.ArcPair(np.zeros((9, 9), np.int8))])
    with pytest.raises(AdaptError, match="canvas 8 is smaller"):
        prepare(big, AdaptOptions(base=str(path)))
    # The default (AUTO) takes the bundled base only where the task fits its canvas, else starts fresh.
    huge = arc.ArcTask("huge", [arc.ArcPair(np.zeros((20, 20), np.int8), np.zeros((20, 20), np.int8))],
                       [arc.ArcPair(np.zeros((20, 20), np.int8))])
    assert prepare(huge, AdaptOptions(num_views=2)).base is None
    assert prepare(colour_task(), AdaptOptions(num_views=2)).base == "arc-base"


def test_large_canvases_trade_batch_for_optimiser_steps():
    from trainers.arc_adapt import MIN_BATCH, batch_for

    assert batch_for(10) == batch_for(12) == 32  # small tasks train as before
    sizes = [batch_for(c) for c in range(12, 31, 2)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == MIN_BATCH
    assert all(b * c * c <= 32 * 12 * 12 or b == MIN_BATCH for b, c in zip(sizes, range(12, 31, 2), strict=True))
