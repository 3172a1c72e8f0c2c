"""Augmented task building, inverse transforms and the reference's voting rule (no training here)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.puzzles import arc
from engine.puzzles.base import PuzzleError
from trainers import arc_data
from trainers.arc_vote import ViewAnswer, attempts, grid_key, is_solved, vote


def _task(seed: int = 0, size: tuple[int, int] = (3, 4), tests: int = 2) -> arc.ArcTask:
    rng = np.random.default_rng(seed)
    grids = [rng.integers(0, 10, size=size).astype(np.int8) for _ in range(3 + tests)]
    train = [arc.ArcPair(g, np.fliplr(g).copy()) for g in grids[:3]]
    test = [arc.ArcPair(g, np.fliplr(g).copy()) for g in grids[3:]]
    return arc.ArcTask("demo", train, test)


def test_canvas_is_largest_grid_plus_marker_rounded_up():
    assert arc_data.canvas_for(_task(size=(3, 4))) == 6  # 4 + 1 -> 6
    assert arc_data.canvas_for(_task(size=(5, 2))) == 6
    assert arc_data.canvas_for(_task(size=(7, 7))) == 8
    assert arc_data.canvas_for(_task(size=(30, 30))) == 30  # never beyond the reference canvas
    assert arc_data.canvas_for(_task(size=(29, 3))) == 30


def test_views_are_distinct_augmentations_with_their_own_identifiers():
    task = _task()
    data = arc_data.build(task, num_views=16, seed=3)
    assert len(data.views) == 16
    assert [v.puzzle_id for v in data.views] == list(range(1, 17))
    assert data.num_identifiers == 17  # 0 stays the blank identifier
    assert data.views[0].augmentation.is_identity
    assert len({v.name for v in data.views}) == 16
    for view in data.views:
        aug = view.augmentation
        assert aug.mapping[0] == 0  # black is never recoloured
        for (a, b), pair in zip(view.pairs, task.train, strict=True):
            assert np.array_equal(a, aug.apply(pair.input)) and np.array_equal(b, aug.apply(pair.output))
            assert np.array_equal(aug.invert(a), pair.input)
        for t, pair in zip(view.test_inputs, task.test, strict=True):  # test inputs under the same augmentation
            assert np.array_equal(t, aug.apply(pair.input))


def test_symmetric_task_keeps_only_distinct_views():
    # A single black 2x2 grid looks the same under every augmentation: only the identity view survives.
    g = np.zeros((2, 2), np.int8)
    task = arc.ArcTask("flat", [arc.ArcPair(g, g)], [arc.ArcPair(g)])
    data = arc_data.build(task, num_views=8)
    assert len(data.views) == 1


def test_samples_are_reference_encodings_with_translation():
    task = _task(size=(2, 2))
    data = arc_data.build(task, num_views=4, canvas=8, seed=1)
    inputs, labels, ids = data.sample(200)
    assert inputs.shape == labels.shape == (200, 64) and ids.shape == (200,)
    assert set(np.unique(ids)) <= {1, 2, 3, 4}
    offsets = set()
    for inp, lab, pid in zip(inputs, labels, ids, strict=True):
        grid = inp.reshape(8, 8)
        rows, cols = np.nonzero(grid >= 2)
        r0, c0 = int(rows.min()), int(cols.min())
        offsets.add((r0, c0))
        view = data.views[pid - 1]
        # The label is one of this view's outputs, at the same place as its input.
        out = arc.decode(lab, canvas=8, offset=(r0, c0))
        assert any(np.array_equal(out, b) for _, b in view.pairs)
    assert len(offsets) > 5  # translated across the canvas, not always at the top-left


def test_test_batch_covers_every_view_and_test_input_untranslated():
    task = _task()
    data = arc_data.build(task, num_views=5)
    inputs, ids, where = data.test_batch()
    assert inputs.shape == (10, data.seq_len)
    assert sorted(where) == [(v, t) for v in range(5) for t in range(2)]
    for row, (v, t) in enumerate(where):
        assert ids[row] == data.views[v].puzzle_id
        decoded = arc.decode(inputs[row], canvas=data.canvas)
        assert np.array_equal(data.views[v].augmentation.invert(decoded), task.test[t].input)


def test_task_too_big_for_the_canvas_is_refused():
    with pytest.raises(PuzzleError, match="does not fit"):
        arc_data.build(_task(size=(7, 7)), canvas=6)


def test_every_view_inverts_back_through_the_encoding():
    """Encode an augmented answer, decode it (the reference crop), invert: the original grid comes back."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        grid = rng.integers(0, 10, size=(int(rng.integers(1, 6)), int(rng.integers(1, 6)))).astype(np.int8)
        aug = arc.random_augmentation(rng)
        tokens = arc.encode(aug.apply(grid), canvas=6)
        assert np.array_equal(aug.invert(arc.decode(tokens, canvas=6)), grid)


def _answer(grid, halt, view="v"):
    return ViewAnswer(view, np.asarray(grid, dtype=np.int8), halt)


def test_vote_counts_identical_grids_and_breaks_ties_by_mean_halting_confidence():
    a, b, c = [[1, 2]], [[2, 1]], [[3]]
    answers = [_answer(a, 0.2), _answer(b, 0.9), _answer(a, 0.4), _answer(b, 0.5), _answer(c, 1.0)]
    ranked = vote(answers)
    assert [cand.votes for cand in ranked] == [2, 2, 1]
    assert np.array_equal(ranked[0].grid, b)  # tie on votes: mean halt 0.7 beats 0.3
    assert ranked[0].mean_halt == pytest.approx(0.7)
    assert np.array_equal(ranked[1].grid, a)
    top = attempts(ranked)
    assert len(top) == 2 and np.array_equal(top[0], b) and np.array_equal(top[1], a)


def test_more_votes_beat_higher_confidence_and_shapes_matter():
    ranked = vote([_answer([[1, 1]], 0.1), _answer([[1, 1]], 0.1), _answer([[1], [1]], 0.99)])
    assert ranked[0].votes == 2 and ranked[0].grid.shape == (1, 2)
    assert grid_key(np.ones((1, 2))) != grid_key(np.ones((2, 1)))


def test_candidate_keeps_the_steps_of_its_most_confident_voter():
    steps_low = [np.zeros((1, 1), np.int8), np.ones((1, 1), np.int8)]
    steps_high = [np.full((1, 1), 5, np.int8), np.ones((1, 1), np.int8)]
    ranked = vote([
        ViewAnswer("low", np.ones((1, 1), np.int8), 0.1, steps_low, [0.0, 0.1]),
        ViewAnswer("high", np.ones((1, 1), np.int8), 0.8, steps_high, [0.3, 0.8]),
    ])
    assert ranked[0].views == ["low", "high"]
    assert ranked[0].step_halt == [0.3, 0.8] and ranked[0].steps[0][0, 0] == 5


def test_attempts_pad_with_the_first_and_skip_empty_answers():
    ranked = vote([_answer(np.zeros((0, 0)), 0.9), _answer(np.zeros((0, 0)), 0.9), _answer([[4]], 0.1)])
    assert ranked[0].grid.size == 0  # the empty answer won the vote ...
    top = attempts(ranked)
    assert [g.tolist() for g in top] == [[[4]], [[4]]]  # ... but never takes an attempt
    assert [g.tolist() for g in attempts([])] == [[[0]], [[0]]]


def test_is_solved():
    sol = np.array([[1, 2]])
    assert is_solved([np.array([[0, 0]]), np.array([[1, 2]])], sol) is True
    assert is_solved([np.array([[1], [2]])], sol) is False
    assert is_solved([np.array([[1, 2]])], None) is None
