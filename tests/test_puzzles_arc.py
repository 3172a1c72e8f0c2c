"""ARC: task files, challenge/solution files, the bundled corpora, canvas encoding and the reference crop,
augmentations (dihedral + colour permutation) and the submission format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.puzzles import PuzzleError
from engine.puzzles import arc as A
from engine.puzzles.augment import DIHEDRAL_INVERSE, dihedral, inverse_dihedral

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "puzzles"


def reference_canvas(grid: np.ndarray, pad_r: int = 0, pad_c: int = 0, size: int = 30) -> np.ndarray:
    """The reference builder's canvas, restated: colours + 2, EOS (1) under and right of the grid, PAD 0."""
    nrow, ncol = grid.shape
    out = np.zeros((size, size), np.int64)
    out[pad_r:pad_r + nrow, pad_c:pad_c + ncol] = grid + 2
    if pad_r + nrow < size:
        out[pad_r + nrow, pad_c:pad_c + ncol] = 1
    if pad_c + ncol < size:
        out[pad_r:pad_r + nrow, pad_c + ncol] = 1
    return out.reshape(-1)


def reference_crop(tokens: np.ndarray) -> np.ndarray:
    """The reference evaluator's crop, restated: grow rows, shrink width at the first non-colour token."""
    grid = tokens.reshape(30, 30)
    best, size, width = 0, (0, 0), 30
    for r in range(1, 31):
        for c in range(1, width + 1):
            if not 2 <= grid[r - 1, c - 1] <= 11:
                width = c - 1
                break
        if r * width > best:
            best, size = r * width, (r, width)
    return grid[:size[0], :size[1]] - 2


@pytest.fixture(scope="module")
def arc1_train():
    return A.bundled_tasks("arc1", "train")


def all_grids(tasks):
    for task in tasks.values():
        for pair in task.train + task.test:
            yield pair.input
            if pair.output is not None:
                yield pair.output


def test_bundled_corpora_sizes_and_cache(arc1_train):
    assert len(arc1_train) == 400
    assert len(A.bundled_tasks("arc1", "eval")) == 400
    arc2 = A.bundled_tasks("arc2", "eval")
    assert len(arc2) == 120
    task = arc1_train["007bbfb7"]
    assert task.test[0].output is not None and task.test[0].output.shape == (9, 9)
    assert A.bundled_tasks("arc1", "train")["007bbfb7"] is task  # parsed once
    with pytest.raises(PuzzleError, match="unknown ARC corpus"):
        A.bundled_tasks("arc3")
    with pytest.raises(PuzzleError, match="unknown ARC split"):
        A.bundled_tasks("arc1", "test")


def test_encode_decode_round_trips_every_arc1_grid(arc1_train):
    rng = np.random.default_rng(0)
    count = 0
    grids = list(all_grids(arc1_train)) + list(all_grids(A.bundled_tasks("arc1", "eval")))
    for g in grids:
        tokens = A.encode(g)
        assert np.array_equal(tokens, reference_canvas(g))
        back = A.decode(tokens)
        assert back.shape == g.shape and np.array_equal(back, g)
        if count % 7 == 0:  # translation on the canvas, on a sample
            off = A.random_offset(rng, [g.shape])
            shifted = A.encode(g, offset=off)
            assert np.array_equal(shifted, reference_canvas(g, *off))
            assert np.array_equal(A.decode(shifted, offset=off), g)
        count += 1
    assert count == 6998  # every grid of ARC-AGI-1 (training + evaluation, test outputs included)


def test_decode_is_the_reference_crop_on_noisy_predictions():
    rng = np.random.default_rng(1)
    for _ in range(300):
        tokens = rng.choice(12, size=900, p=[0.02, 0.03] + [0.095] * 10)
        ours = A.decode(tokens)
        ref = reference_crop(tokens)
        assert ours.shape == ref.shape and np.array_equal(ours, ref)
    assert A.decode(np.zeros(900, np.int64)).shape == (0, 0)


def test_eos_markers_at_canvas_edge():
    full = np.ones((30, 30), np.int8)
    assert not (A.encode(full) < 2).any()
    tall = np.zeros((30, 4), np.int8)
    t = A.encode(tall).reshape(30, 30)
    assert (t[:, 4] == 1).all() and (t[:, 5:] == 0).all()
    with pytest.raises(PuzzleError, match="does not fit"):
        A.encode(np.zeros((3, 3), np.int8), offset=(28, 0))
    assert A.encoding().to_dict() == {"kind": "arc", "rows": 30, "cols": 30, "vocab_size": 12, "seq_len": 900}


def test_dihedral_order_matches_the_reference():
    x = np.arange(12).reshape(3, 4)
    expected = [x, np.rot90(x, 1), np.rot90(x, 2), np.rot90(x, 3), x[:, ::-1], x[::-1], x.T, x[::-1, ::-1].T]
    for k in range(8):
        assert np.array_equal(dihedral(x, k), expected[k])
        assert np.array_equal(inverse_dihedral(dihedral(x, k), k), x)
        assert np.array_equal(dihedral(dihedral(x, k), DIHEDRAL_INVERSE[k]), x)
    with pytest.raises(ValueError):
        dihedral(x, 8)


def test_augmentations_invert_on_real_tasks(arc1_train):
    rng = np.random.default_rng(2)
    for task in list(arc1_train.values())[:80]:
        aug = A.random_augmentation(rng)
        assert aug.mapping[0] == 0
        moved = aug.apply_task(task)
        assert moved.task_id == aug.identifier(task.task_id)
        for before, after in zip(task.train + task.test, moved.train + moved.test, strict=True):
            assert np.array_equal(aug.invert(after.input), before.input)
            assert np.array_equal(aug.invert(after.output), before.output)
            assert (after.input == 0).sum() == (before.input == 0).sum()  # black stays black


def test_augmentation_names_match_reference_identifiers():
    aug = A.ArcAugmentation(3, (0, 9, 8, 7, 6, 5, 4, 3, 2, 1))
    assert aug.name == "t3|||0987654321"
    assert aug.identifier("abc") == "abc|||t3|||0987654321"
    assert A.ArcAugmentation.from_name("abc|||t3|||0987654321") == aug
    assert A.ArcAugmentation.from_name("abc").is_identity
    assert A.ArcAugmentation(0, tuple(range(10))).identifier("abc") == "abc"
    g = np.array([[1, 2], [0, 3]])
    # the reference applies the colour map first, then the dihedral transform
    assert np.array_equal(aug.apply(g), np.rot90(np.array(aug.mapping)[g], 3))
    for bad in ("x|||t9|||0123456789", "x|||t1|||1023456789", "x|||t1|||01234", "x|||q1|||0123456789"):
        with pytest.raises(PuzzleError, match="not an augmentation name"):
            A.ArcAugmentation.from_name(bad)


def test_task_file_round_trip_and_assets(tmp_path, arc1_train):
    task = arc1_train["3c9b0459"]
    path = tmp_path / "3c9b0459.json"
    A.save_task(path, task)
    back = A.load_task(path)
    assert back.task_id == "3c9b0459"
    assert all(np.array_equal(a.output, b.output) for a, b in zip(task.train, back.train, strict=True))
    for name in ("arc-007bbfb7.json", "arc-3c9b0459.json", "arc-a85d4709.json"):
        t = A.load_task(ASSETS / name)
        assert t.train and t.test and t.test[0].output is not None
        ref = arc1_train[name[4:-5]]
        assert np.array_equal(t.test[0].output, ref.test[0].output)


def test_challenges_and_solutions(tmp_path, arc1_train):
    ids = ["007bbfb7", "3c9b0459"]
    challenges = {i: {"train": arc1_train[i].to_json()["train"],
                      "test": [{"input": p.input.tolist()} for p in arc1_train[i].test]} for i in ids}
    solutions = {i: [p.output.tolist() for p in arc1_train[i].test] for i in ids}
    cpath, spath = tmp_path / "c.json", tmp_path / "s.json"
    cpath.write_text(json.dumps(challenges))
    spath.write_text(json.dumps(solutions))
    tasks = A.load_challenges(cpath)
    assert tasks["007bbfb7"].test[0].output is None
    tasks = A.load_challenges(cpath, spath)
    for i in ids:
        assert A.grids_equal(tasks[i].test[0].output, arc1_train[i].test[0].output)
    spath.write_text(json.dumps({"007bbfb7": []}))
    with pytest.raises(PuzzleError, match=r"s.json: task '007bbfb7': expected 1 output grids, found 0"):
        A.load_challenges(cpath, spath)
    spath.write_text(json.dumps({"nope": [[[0]]]}))
    with pytest.raises(PuzzleError, match="'nope' is not in c.json"):
        A.load_challenges(cpath, spath)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]]}]},
         r"at train\[0\].input, row 1: 1 columns, expected 2 like row 0"),
        ({"train": [{"input": [[1, 12]], "output": [[1]]}], "test": [{"input": [[1]]}]},
         r"at train\[0\].input, row 0, column 1: colour must be an integer 0-9, got 12"),
        ({"train": [{"input": [[1, True]], "output": [[1]]}], "test": [{"input": [[1]]}]},
         r"column 1: colour must be an integer 0-9, got True"),
        ({"train": [{"input": [[1]] * 31, "output": [[1]]}], "test": [{"input": [[1]]}]},
         r"at train\[0\].input: 31 rows, at most 30"),
        ({"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}, r"at train\[0\]: missing 'output'"),
        ({"train": [], "test": [{"input": [[1]]}]}, "at least one demonstration"),
        ({"train": [{"input": [[1]], "output": [[2]]}]}, "missing 'test'"),
        ([1, 2], "expected an object with 'train' and 'test'"),
        ({"train": [{"input": [], "output": [[2]]}], "test": [{"input": [[1]]}]}, "non-empty list of rows"),
    ],
)
def test_task_validation_messages(tmp_path, data, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PuzzleError, match=message) as err:
        A.load_task(path)
    assert "t.json" in str(err.value)


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"train": [\n  {"input": [[1,]]}\n')
    with pytest.raises(PuzzleError, match=r"t.json, line 2, column 17: invalid JSON"):
        A.load_task(path)


def test_submission_format():
    g1, g2 = np.array([[1, 2]]), np.array([[3]])
    sub = A.submission({"abc": [[g1, g2], [g1]]})
    assert sub == {"abc": [{"attempt_1": [[1, 2]], "attempt_2": [[3]]},
                           {"attempt_1": [[1, 2]], "attempt_2": [[1, 2]]}]}
    json.dumps(sub)
    with pytest.raises(PuzzleError, match="no predicted grid"):
        A.submission({"abc": [[]]})


def test_check_against_known_outputs(arc1_train):
    task = arc1_train["3c9b0459"]  # rotate by 180 degrees
    right = [np.rot90(p.input, 2) for p in task.test]
    assert all(np.array_equal(np.rot90(p.input, 2), p.output) for p in task.train)
    assert A.check(task, [[r] for r in right]) == [True] * len(task.test)
    assert A.check(task, [[p.input, r] for p, r in zip(task.test, right, strict=True)]) == [True] * len(task.test)
    assert A.check(task, [[p.input] for p in task.test]) == [False] * len(task.test)
    assert A.check(task, [[r[:, :-1]] for r in right]) == [False] * len(task.test)  # shape counts
    unknown = A.ArcTask("x", task.train, [A.ArcPair(task.test[0].input)])
    assert A.check(unknown, [[right[0]]]) == [None]
    with pytest.raises(PuzzleError, match="has 1 test inputs, got 2"):
        A.check(unknown, [[right[0]], [right[0]]])
