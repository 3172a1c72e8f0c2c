"""Training towards the shortest path nearest the model's answer."""

from __future__ import annotations

import numpy as np
import torch

from engine.puzzles import maze as mz
from trainers.maze_labels import nearest_shortest_paths, relabel_mazes


def _batch(size: int = 12, count: int = 8):
    mazes = mz.generate(count, seed=2, size=size, style="hard")
    return np.stack([m.grid for m in mazes]), np.stack([m.solution for m in mazes])


def test_scores_that_favour_a_shortest_path_get_that_path_back():
    grids, labels = _batch()
    out, ok = nearest_shortest_paths(grids, np.where(labels == mz.PATH, 1.0, -1.0))
    assert ok.all()
    assert np.array_equal(out, labels)


def test_any_scores_give_a_shortest_path_and_follow_the_scores():
    grids, labels = _batch()
    rng = np.random.default_rng(0)
    out, ok = nearest_shortest_paths(grids, rng.normal(size=grids.shape))
    assert ok.all()
    assert all(mz.is_valid_solution(g, o) for g, o in zip(grids, out, strict=True))
    assert any(not np.array_equal(o, lab) for o, lab in zip(out, labels, strict=True))
    # an open room: scores that prefer the bottom-left route pick it over the label's top-right one
    room = np.full((1, 5, 5), mz.OPEN, np.int8)
    room[0, 0, 0], room[0, 4, 4] = mz.START, mz.GOAL
    scores = np.full((1, 5, 5), -1.0)
    scores[0, :, 0] = scores[0, 4, :] = 2.0
    out, _ = nearest_shortest_paths(room, scores)
    assert (out[0, 1:, 0] == mz.PATH).all() and (out[0, 4, :4] != mz.OPEN).all()
    assert int((out == mz.PATH).sum()) == 7


def test_relabel_keeps_the_label_of_a_maze_without_route():
    grids, labels = _batch(count=2)
    blocked = grids[1].copy()
    g = tuple(np.argwhere(blocked == mz.GOAL)[0])
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = g[0] + dr, g[1] + dc
        if 0 <= r < 12 and 0 <= c < 12:
            blocked[r, c] = mz.WALL
    grids[1] = blocked
    inputs = torch.from_numpy(grids.reshape(2, -1).astype(np.int64) + 1)
    given = torch.from_numpy(labels.reshape(2, -1).astype(np.int64) + 1)
    logits = torch.randn(2, 144, 6)
    out = relabel_mazes(inputs, given, logits)
    assert torch.equal(out[1], given[1])
    assert mz.is_valid_solution(grids[0], out[0].numpy().reshape(12, 12) - 1)
