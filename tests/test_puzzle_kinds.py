"""The puzzle-kind contract: one registry answers detection, codec, fit, rules and verdicts for every kind, and a
new kind plugs in by registering one object (docs/puzzle-kinds.md walks through the same toy kind)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.inference import GridCodec
from engine.puzzles import maze, sudoku
from engine.puzzles.base import Encoding, PuzzleError, atomic_write_text, read_text
from engine.puzzles.kind import _KINDS, PuzzleKind, detect_file, get_kind, kind_names, register

SUDOKU_LINE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"


def test_every_example_file_is_detected_as_its_kind(tmp_path):
    (tmp_path / "task.json").write_text('{"train": [], "test": []}')
    (tmp_path / "m.txt").write_text("#####\n#S G#\n#####\n")
    (tmp_path / "s.txt").write_text("# famous puzzles, one per line\n" + SUDOKU_LINE + "\n")
    mz = maze.generate(1, seed=1, size=7)
    maze.save(tmp_path / "m.csv", mz)
    sudoku.save(tmp_path / "s.csv", [sudoku.parse(SUDOKU_LINE)])
    found = {name: detect_file(tmp_path / name).name for name in ("task.json", "m.txt", "s.txt", "m.csv", "s.csv")}
    assert found == {"task.json": "arc", "m.txt": "maze", "s.txt": "sudoku", "m.csv": "maze", "s.csv": "sudoku"}
    # a commented Sudoku file loads through its detected kind
    items = detect_file(tmp_path / "s.txt").items(tmp_path / "s.txt")
    assert len(items) == 1 and items[0].expected is not None
    with pytest.raises(PuzzleError, match="missing.txt"):
        detect_file(tmp_path / "missing.txt")


def test_validate_names_a_puzzle_without_solution():
    blocked = np.array([[0, 0, 0, 0, 0], [0, 2, 0, 3, 0], [0, 0, 0, 0, 0]], np.int8)  # S and G walled apart
    with pytest.raises(PuzzleError, match="no solution"):
        get_kind("maze").validate(blocked)
    get_kind("maze").validate(maze.generate(1, seed=2, size=7)[0].grid)
    no_way = sudoku.parse("1...2.....43....").givens  # no clash among the givens, yet no solution
    with pytest.raises(PuzzleError, match="no solution"):
        get_kind("sudoku").validate(no_way)
    get_kind("sudoku").validate(sudoku.parse(SUDOKU_LINE).givens)


def test_a_maze_answer_is_right_on_any_shortest_path_and_a_sudoku_when_it_keeps_the_rules():
    grid = np.full((5, 5), maze.OPEN, np.int8)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = maze.WALL
    grid[1, 1], grid[3, 3] = maze.START, maze.GOAL
    best = maze.shortest_path(grid)
    other = best.T.copy()  # the mirror route is as short
    kind = get_kind("maze")
    assert not np.array_equal(other, best)
    assert kind.correct(grid, other, best) and kind.judge(grid, other, best).status == "solved"  # any shortest route
    assert kind.judge(grid, best, best).status == "solved"
    broken = best.copy()
    broken[1, 2] = maze.WALL
    assert kind.correct(grid, broken, best) is False and kind.judge(grid, broken, best).status == "invalid"
    givens = sudoku.parse(SUDOKU_LINE).givens
    answer = sudoku.solve(givens).solution
    sk = get_kind("sudoku")
    assert sk.correct(givens, answer, None) and not sk.correct(givens, np.where(givens > 0, givens, 1), None)
    assert get_kind("arc").correct(givens, answer, None) is None


def test_the_solve_panel_notes_come_from_the_kind():
    """What the window says before a model runs: a puzzle outside the model's training, a drawing worth a search."""
    givens = sudoku.parse(SUDOKU_LINE).givens  # 30 givens
    S, M, A = get_kind("sudoku"), get_kind("maze"), get_kind("arc")
    assert S.outside_training({"clues": [33, 50]}, givens) == "was trained on 33-50 givens; this puzzle has 30"
    assert S.outside_training({"clues": [24, 50]}, givens) is None and S.outside_training({}, givens) is None
    grid = maze.generate(1, seed=1, size=9)[0].grid
    assert M.outside_training({"size": 7}, grid) == "was trained on 7\u00d77 mazes; this one is 9\u00d79"
    assert M.outside_training({"size": 9}, grid) is None and A.outside_training({"size": 3}, grid) is None
    few = np.zeros((9, 9), np.int8)
    few[0, :8] = np.arange(1, 9)  # 8 givens: under a fifth of 81
    assert not S.worth_searching(few) and S.worth_searching(givens) and M.worth_searching(grid)
    assert A.adapts and not S.adapts and not M.adapts


def test_canvas_fit_and_codec_come_from_the_kind():
    mz = maze.generate(1, seed=3, size=9)[0].grid
    assert get_kind("maze").fits(15, mz.shape) and not get_kind("maze").fits(7, mz.shape)
    assert get_kind("maze").fits(7, mz.shape, any_canvas=True)
    codec = GridCodec(maze.encoding(15), mz)
    assert codec.tokens.shape == (225,) and np.array_equal(codec.decode(codec.tokens)[0], mz)
    assert get_kind("sudoku").fits(9, (9, 9)) and not get_kind("sudoku").fits(9, (6, 6))
    assert get_kind("arc").fits(12, (11, 3)) and not get_kind("arc").fits(12, (12, 3))
    with pytest.raises(PuzzleError, match="unknown puzzle kind 'chess'"):
        get_kind("chess")


class LightsKind(PuzzleKind):
    """A toy kind for the test: a row of lamps (0 off, 1 on); the answer switches every lamp on."""

    name, title, suffixes = "lights", "lights", (".lights",)
    detect_order = 5

    def sniff(self, text, suffix):
        return suffix == ".lights"

    def load(self, path):
        return [np.array([[int(ch) for ch in line] for line in read_text(path).split()], np.int8)]

    def items(self, path):
        from engine.puzzles.kind import Item

        return [Item(g, self.answer(g), "lamps") for g in self.load(path)]

    def save(self, path, records):
        atomic_write_text(path, "\n".join("".join(map(str, row)) for row in records[0]) + "\n")

    def encoding(self, rows):
        return Encoding("lights", rows, rows, 3, rows * rows)

    def fits(self, rows, shape, any_canvas=False):
        return tuple(shape) == (rows, rows)

    def encode(self, grid, encoding):
        return np.asarray(grid, np.int64).reshape(-1) + 1

    def decode(self, tokens, encoding, shape):
        return (np.asarray(tokens).reshape(shape) - 1).clip(0, 1).astype(np.int8)

    def answer(self, question):
        return np.ones_like(question)

    def is_valid(self, question, grid):
        return grid.shape == question.shape and bool((grid == 1).all())


def test_a_new_kind_plugs_in_by_registering_one_object(tmp_path):
    register(LightsKind())
    try:
        assert "lights" in kind_names()
        path = tmp_path / "a.lights"
        path.write_text("01\n10\n")
        kind = detect_file(path)
        assert kind.name == "lights" and kind.items(path)[0].expected.tolist() == [[1, 1], [1, 1]]
        enc = Encoding.from_dict({"kind": "lights", "rows": 2, "cols": 2, "vocab_size": 3, "seq_len": 4})
        codec = GridCodec(enc, kind.load(path)[0])
        assert codec.decode(np.array([2, 2, 2, 1]))[0].tolist() == [[1, 1], [1, 0]]
        verdict = kind.judge(kind.load(path)[0], np.ones((2, 2), np.int8), None)
        assert verdict.status == "solved"
    finally:
        _KINDS.pop("lights", None)
