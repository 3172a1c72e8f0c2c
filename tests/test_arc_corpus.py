"""The base-model corpus: reference-style augmented ARC data through the project's training loop, then adaptation."""

from __future__ import annotations

import numpy as np
import torch

from engine.checkpoint import load_checkpoint
from engine.puzzles import arc
from trainers.arc_adapt import AdaptOptions, adapt_and_predict
from trainers.arc_corpus import ArcCorpus, export
from trainers.data import IGNORE_LABEL, TrainDataset


def _tasks() -> dict[str, arc.ArcTask]:
    rng = np.random.default_rng(0)
    tasks = {}
    for i in range(3):
        grids = [rng.integers(0, 6, size=(3, 3)).astype(np.int8) for _ in range(3)]
        pairs = [arc.ArcPair(g, np.flipud(g).copy()) for g in grids]
        tasks[f"t{i}"] = arc.ArcTask(f"t{i}", pairs[:2], pairs[2:])
    big = np.zeros((9, 9), np.int8)
    tasks["big"] = arc.ArcTask("big", [arc.ArcPair(big, big)], [arc.ArcPair(big, big)])
    return tasks


def test_corpus_is_a_deterministic_train_dataset_of_fitting_tasks():
    corpus = ArcCorpus(_tasks(), canvas=6, views=4)
    assert isinstance(corpus, TrainDataset)
    assert corpus.task_ids == ["t0", "t1", "t2"]  # the 9x9 task does not fit a 6x6 canvas
    assert corpus.num_puzzle_identifiers == 1 + 3 * 4
    assert len(corpus.examples) == 3 * 4 * 3  # test pairs with outputs train too, as in the reference
    a, b = corpus.batch(5, 16), corpus.batch(5, 16)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.inputs, corpus.batch(6, 16).inputs)
    assert a.inputs.shape == (16, 36) and int(a.puzzle_ids.min()) >= 1
    assert bool((a.labels[a.inputs == arc.PAD] == IGNORE_LABEL).all())  # PAD cells are never scored


def test_base_trained_with_the_project_loop_then_adapts(tmp_path):
    from trainers.config import TrainConfig
    from trainers.loop import train

    torch.set_num_threads(1)
    corpus = ArcCorpus(_tasks(), canvas=6, views=4)
    model = dict(hidden_size=32, num_heads=2, L_layers=1, H_cycles=1, L_cycles=1, halt_max_steps=2,
                 puzzle_emb_ndim=32, puzzle_emb_len=1, forward_dtype="float32")
    config = TrainConfig(model=model, steps=3, batch_size=8, ema=0.9, eval_every=0, checkpoint_every=3,
                         log_every=1, device="cpu", warmup_steps=1)
    train(config, corpus, tmp_path / "run", handle_signals=False)
    path = export(tmp_path / "run", tmp_path / "arc-tiny.safetensors")
    loaded = load_checkpoint(path)
    assert loaded.encoding.kind == "arc" and loaded.encoding.rows == 6
    assert loaded.config.num_puzzle_identifiers == corpus.num_puzzle_identifiers

    task = _tasks()["t1"]
    result = adapt_and_predict(task, AdaptOptions(base=str(path), budget_s=20, max_train_steps=2, num_views=4,
                                                  threads=1))
    assert result.base == "arc-tiny" and result.canvas == 6 and result.train_steps == 2
    assert len(result.predictions[0].attempts) == 2
