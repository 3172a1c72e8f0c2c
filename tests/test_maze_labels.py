"""The shortest route nearest to an answer: the training target, and what the window marks wrong cells by."""

from __future__ import annotations

import numpy as np
import torch

from engine.puzzles import maze as mz
from engine.puzzles.kind import get_kind
from engine.puzzles.maze import nearest_shortest_routes
from trainers.maze_labels import relabel_mazes
from trm_lab.session import SolveSession, replay_steps


def _batch(size: int = 12, count: int = 8):
    mazes = mz.generate(count, seed=2, size=size, style="hard")
    return np.stack([m.grid for m in mazes]), np.stack([m.solution for m in mazes])


def test_scores_that_favour_a_shortest_path_get_that_path_back():
    grids, labels = _batch()
    out, ok = nearest_shortest_routes(grids, np.where(labels == mz.PATH, 1.0, -1.0))
    assert ok.all()
    assert np.array_equal(out, labels)


def test_any_scores_give_a_shortest_path_and_follow_the_scores():
    grids, labels = _batch()
    rng = np.random.default_rng(0)
    out, ok = nearest_shortest_routes(grids, rng.normal(size=grids.shape))
    assert ok.all()
    assert all(mz.is_valid_solution(g, o) for g, o in zip(grids, out, strict=True))
    assert any(not np.array_equal(o, lab) for o, lab in zip(out, labels, strict=True))
    # an open room: scores that prefer the bottom-left route pick it over the label's top-right one
    room = np.full((1, 5, 5), mz.OPEN, np.int8)
    room[0, 0, 0], room[0, 4, 4] = mz.START, mz.GOAL
    scores = np.full((1, 5, 5), -1.0)
    scores[0, :, 0] = scores[0, 4, :] = 2.0
    out, _ = nearest_shortest_routes(room, scores)
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


def _room_with_a_gap() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An open 5 x 5 room (S top-left, G bottom-right: 70 shortest routes), the BFS's labelled route, and an answer
    that follows another route (down the left column, along the bottom) with one cell missing."""
    room = np.full((5, 5), mz.OPEN, np.int8)
    room[0, 0], room[4, 4] = mz.START, mz.GOAL
    label = mz.shortest_path(room)
    answer = room.copy()
    answer[1:, 0] = mz.PATH
    answer[4, 1:4] = mz.PATH
    answer[4, 2] = mz.OPEN  # the gap
    assert not np.array_equal(answer == mz.PATH, label == mz.PATH) and (answer[:, 0] != label[:, 0]).any()
    return room, label, answer


def test_wrong_cells_are_counted_against_the_nearest_shortest_route_not_the_label():
    room, label, answer = _room_with_a_gap()
    kind = get_kind("maze")
    for expected in (label, None):  # no stored answer is needed to check a maze
        errors = kind.rule_errors(room, answer, expected)
        assert np.argwhere(errors).tolist() == [[4, 2]]
        nearest = kind.nearest_answer(room, answer, expected)
        assert mz.is_valid_solution(room, nearest) and int(((nearest == mz.PATH) != (answer == mz.PATH)).sum()) == 1
    right = answer.copy()
    right[4, 2] = mz.PATH  # another shortest route than the label's: right, nothing marked
    assert not kind.rule_errors(room, right, label).any()
    over = right.copy()
    over[0, 0] = mz.PATH  # drawn over the start: that cell is marked, whatever the route
    assert kind.rule_errors(room, over, label)[0, 0]


def test_the_window_plots_accuracy_against_the_nearest_route_once_per_step():
    room, label, answer = _room_with_a_gap()
    session = SolveSession(kind="maze", puzzle=room, expected=label)
    for step in replay_steps([room, answer], [0.1, 0.2], ["", ""]):
        session.add_step(step)
    acc = session.accuracy_series()
    assert acc is not None and acc[1] == 1 - 1 / 25 and acc[0] < acc[1]
    assert session.errors_at(1) is session.errors_at(1)  # measured once, not at every redraw
    drawn = SolveSession(kind="maze", puzzle=room)  # a maze drawn by hand has no stored answer, still a measure
    drawn.add_step(replay_steps([answer], [0.2], [""])[0])
    assert drawn.accuracy_series().tolist() == [1 - 1 / 25]
