"""Every reader, fed garbage: random bytes, mutated and truncated real files, hostile JSON, huge lines.
The only exception allowed out is PuzzleError, and what does load is valid."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.puzzles import Encoding, PuzzleError
from engine.puzzles import arc as A
from engine.puzzles import maze as M
from engine.puzzles import sudoku as S

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "puzzles"
# PUZZLE_FUZZ_EXAMPLES=5000 for a long soak; the default keeps the suite fast
FUZZ = settings(max_examples=int(os.environ.get("PUZZLE_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
SAMPLES = {p.name: p.read_bytes() for p in sorted(ASSETS.iterdir()) if p.is_file()}


def _check_sudoku(puzzles):
    for p in puzzles:
        n = p.size
        assert n in (4, 6, 9) and p.givens.shape == (n, n)
        assert p.givens.min() >= 0 and p.givens.max() <= n
        assert not S.conflicts(p.givens).any()
        if p.solution is not None:
            assert S.is_valid_solution(p.givens, p.solution)


def _check_mazes(mazes):
    for m in mazes:
        assert m.grid.ndim == 2 and max(m.grid.shape) <= 30
        assert (m.grid == M.START).sum() == 1 and (m.grid == M.GOAL).sum() == 1
        assert not (m.grid == M.PATH).any()


def _check_task(task):
    for pair in task.train + task.test:
        for g in (pair.input, pair.output):
            if g is not None:
                assert g.ndim == 2 and 1 <= g.shape[0] <= 30 and 1 <= g.shape[1] <= 30
                assert g.min() >= 0 and g.max() <= 9


def load_all(data: bytes) -> None:
    """Run every file reader on `data`; anything but PuzzleError fails the test."""
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".txt", ".csv", ".json"):
            path = Path(tmp) / f"in{suffix}"
            path.write_bytes(data)
            for reader, check in ((S.load, _check_sudoku), (M.load, _check_mazes)):
                try:
                    check(reader(path))
                except PuzzleError as exc:
                    assert str(exc).startswith(str(path)), str(exc)
            try:
                _check_task(A.load_task(path))
            except PuzzleError as exc:
                assert str(path) in str(exc)
            try:
                for task in A.load_challenges(path, path).values():
                    _check_task(task)
            except PuzzleError as exc:
                assert str(path) in str(exc)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data):
    load_all(data)


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_truncated_and_mutated_real_files(name, data):
    raw = SAMPLES[name]
    cut = data.draw(st.integers(0, len(raw)))
    load_all(raw[:cut])
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(mutated) - 1))
        mutated[pos] = data.draw(st.sampled_from(list(b"0123456789.#SGo ,\n\r\"[]{}:-x\x00\xff")))
    load_all(bytes(mutated))


@FUZZ
@given(st.text(alphabet=".0123456789#SGo |+-,\n\r\t\"x", max_size=2000))
def test_puzzle_like_text(text):
    for parse, check in ((S.parse, lambda p: _check_sudoku([p])), (M.parse, lambda m: _check_mazes([m])),
                         (S.loads, _check_sudoku), (M.loads, _check_mazes)):
        try:
            check(parse(text, source="fuzz"))
        except PuzzleError as exc:
            assert str(exc).startswith("fuzz"), str(exc)


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10))
JSON = st.recursive(JSON_LEAF, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=6), kids,
                                                                                         max_size=5), max_leaves=40)
GRID = st.lists(st.lists(st.integers(-2, 12), min_size=0, max_size=4), min_size=0, max_size=4)


@FUZZ
@given(st.one_of(JSON, st.fixed_dictionaries({"train": st.lists(st.fixed_dictionaries(
    {"input": st.one_of(GRID, JSON), "output": st.one_of(GRID, JSON)}), max_size=3),
    "test": st.lists(st.fixed_dictionaries({"input": st.one_of(GRID, JSON)}), max_size=2)})))
def test_hostile_json_tasks(value):
    text = json.dumps(value)
    try:
        _check_task(A.loads_task(text, source="t.json"))
    except PuzzleError as exc:
        assert str(exc).startswith("t.json"), str(exc)


@pytest.mark.parametrize("text", [
    "[" * 200_000 + "]" * 200_000,  # deeper than the JSON parser's recursion limit
    '{"train": [{"input": [[' + "9" * 5000 + ']], "output": [[1]]}], "test": [{"input": [[1]]}]}',  # huge int
    '{"train": [{"input": [[1e999]], "output": [[1]]}], "test": [{"input": [[NaN]]}]}',
    '{"train": [{"input": [[-0]], "output": [[1.0]]}], "test": [{"input": [[1]]}]}',
])
def test_pathological_json(text):
    with pytest.raises(PuzzleError, match="t.json"):
        A.loads_task(text, source="t.json")


def test_ten_megabyte_lines(tmp_path):
    for content in ("." * 10_000_000, "#" * 10_000_000, "source,question,answer,rating\nx," + "." * 10_000_000
                    + ",,1\n", '{"train": [' + "1," * 5_000_000 + "1]}"):
        path = tmp_path / "big.txt"
        path.write_text(content)
        for reader in (S.load, M.load, A.load_task):
            with pytest.raises(PuzzleError, match="big.txt"):
                reader(path)


@FUZZ
@given(st.dictionaries(st.sampled_from(["kind", "rows", "cols", "vocab_size", "seq_len", "x"]), JSON_LEAF))
def test_encoding_metadata(data):
    try:
        enc = Encoding.from_dict(data)
    except PuzzleError:
        return
    assert enc.seq_len == enc.rows * enc.cols and enc.kind in ("sudoku", "maze", "arc")


@FUZZ
@given(st.text(max_size=60))
def test_augmentation_names(name):
    try:
        aug = A.ArcAugmentation.from_name(name)
    except PuzzleError:
        return
    g = np.arange(10, dtype=np.int8).reshape(2, 5)
    assert np.array_equal(aug.invert(aug.apply(g)), g)


@FUZZ
@given(st.lists(st.integers(-5, 20), min_size=0, max_size=100))
def test_token_decoders(tokens):
    t = np.array(tokens, dtype=np.int64)
    for decode in (S.decode, M.decode):
        try:
            decode(t)
        except PuzzleError:
            pass
    try:
        A.decode(t, canvas=10)
    except PuzzleError:
        pass
