"""Mazes: text and CSV formats, validation, BFS solving, generation with loops, encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from puzzle_support import assert_csv_rejected

from engine.puzzles import PuzzleError
from engine.puzzles import maze as M
from engine.puzzles.augment import dihedral

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "puzzles"

SMALL = """\
#######
#S    #
# ### #
# #   #
# # ###
#    G#
#######
"""
# Two routes from S to G: straight along the top (4 steps) or down and around (8 steps).
TWO_ROUTES = """\
#######
#S   G#
# ### #
#     #
#######
"""


def test_parse_and_text_round_trip():
    m = M.parse(SMALL, source="s.txt")
    assert m.grid.shape == (7, 7) and m.grid.dtype == np.int8
    assert m.grid[1, 1] == M.START and m.grid[5, 5] == M.GOAL and m.grid[0, 0] == M.WALL
    assert m.solution is None
    assert M.to_text(m.grid) == SMALL


def test_shortest_path_is_bfs_shortest_and_valid():
    m = M.parse(TWO_ROUTES)
    sol = M.shortest_path(m.grid)
    assert M.shortest_path_length(m.grid) == 4
    assert [tuple(x) for x in np.argwhere(sol == M.PATH)] == [(1, 2), (1, 3), (1, 4)]
    assert M.is_valid_solution(m.grid, sol)
    # the longer route is connected but not shortest
    longer = m.grid.copy()
    for r, c in [(2, 1), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (2, 5)]:
        longer[r, c] = M.PATH
    assert not M.is_valid_solution(m.grid, longer)


def test_is_valid_solution_rejects_broken_and_cheating_paths():
    m = M.parse(SMALL)
    sol = M.shortest_path(m.grid)
    assert M.is_valid_solution(m.grid, sol)
    broken = sol.copy()
    broken[tuple(np.argwhere(sol == M.PATH)[2])] = M.OPEN
    assert not M.is_valid_solution(m.grid, broken)
    through_wall = sol.copy()
    through_wall[0, 0] = M.PATH
    assert not M.is_valid_solution(m.grid, through_wall)
    assert not M.is_valid_solution(m.grid, m.grid)  # no path at all
    # same number of path cells, but not connected: move one path cell to a distant open cell
    moved = sol.copy()
    cells = np.argwhere(sol == M.PATH)
    moved[tuple(cells[len(cells) // 2])] = M.OPEN
    free = np.argwhere(sol == M.OPEN)
    moved[tuple(free[-1])] = M.PATH
    assert not M.is_valid_solution(m.grid, moved)


def test_unreachable_goal_gives_none():
    blocked = SMALL.replace("#    G#", "#   #G#")
    m = M.parse(blocked)
    assert M.shortest_path(m.grid) is None
    assert M.shortest_path_length(m.grid) is None


def test_a_grid_with_a_path_keeps_it_as_the_solution():
    m = M.parse(SMALL)
    drawn = M.to_text(M.shortest_path(m.grid))
    back = M.parse(drawn)
    assert np.array_equal(back.grid, m.grid) and M.is_valid_solution(back.grid, back.solution)


@pytest.mark.parametrize(
    "text, message",
    [
        (SMALL.replace("S", " "), r"exactly one S \(start\), found 0"),
        (SMALL.replace("#S    #", "#S   S#"),
         r"exactly one S \(start\), found 2 \(at row 2, column 2 and row 2, column 6\)"),
        (SMALL.replace("G", " "), r"exactly one G \(goal\), found 0"),
        (SMALL.replace("# ### #", "# #x# #"), r"m.txt, line 3, column 4: unexpected character 'x'"),
        (SMALL.replace("# #   #", "# #  #"), r"m.txt, line 4: maze row 4 has 6 cells, expected 7"),
        ("#" * 31 + "\n" + "#S" + "G" + "#" * 28, r"line 1, column 31: maze row 1 has 31 cells, at most 30"),
        ("\n\n", "empty maze"),
    ],
)
def test_parse_errors_are_precise(text, message):
    with pytest.raises(PuzzleError, match=message):
        M.parse(text, source="m.txt")


def test_too_many_rows():
    text = "\n".join(["#S#"] + ["# #"] * 30 + ["#G#"])
    with pytest.raises(PuzzleError, match="line 31: maze has 32 rows, at most 30"):
        M.parse(text, source="m.txt")


def test_csv_round_trip_matches_reference_layout(tmp_path):
    mazes = M.generate(3, seed=1, size=9)
    path = tmp_path / "m.csv"
    M.save(path, mazes)
    lines = path.read_text().splitlines()
    assert lines[0] == "source,question,answer,rating"
    question = lines[1].split(",")[1]
    assert len(question) == 81 and set(question) <= set("# SG")
    back = M.load(path)
    for a, b in zip(mazes, back, strict=True):
        assert np.array_equal(a.grid, b.grid) and np.array_equal(a.solution, b.solution)
    # the reference builder's char2id on the CSV text equals our encoding
    char2id = np.zeros(256, np.int64)
    char2id[np.array([ord(c) for c in M.CHARSET])] = np.arange(len(M.CHARSET)) + 1
    answer = lines[1].split(",")[2]
    assert np.array_equal(char2id[np.frombuffer(question.encode(), np.uint8)], M.encode(back[0].grid))
    assert np.array_equal(char2id[np.frombuffer(answer.encode(), np.uint8)], M.encode(back[0].solution))


def test_csv_errors(tmp_path):
    path = tmp_path / "bad.csv"
    q = M.to_flat(M.parse(SMALL).grid)
    assert_csv_rejected(M.load, path, f"x,{q[:-1]},,0\n",
                        r"bad.csv, line 2, column 2: .*square number of cells.*found 48")
    wrong = M.to_flat(M.shortest_path(M.parse(TWO_ROUTES).grid))
    assert_csv_rejected(M.load, path, f"x,{q},{'#' * 49},0\n", r"line 2, column 3: answer differs from the question")
    assert_csv_rejected(M.load, path, f"x,{q.replace('S', 'o')},,0\n", r"line 2, column 2: the question shows a path")
    assert wrong  # a different maze's answer has a different size: covered by the square check above


def test_multiple_text_mazes_and_assets(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text(SMALL + "\n" + TWO_ROUTES)
    assert [m.grid.shape for m in M.load(path)] == [(7, 7), (5, 7)]
    solved = [M.Maze(m.grid, M.shortest_path(m.grid)) for m in M.load(path)]
    M.save(path, solved)  # text keeps the puzzles only (no path), like Sudoku line files
    assert "o" not in path.read_text() and [M.to_text(m.grid) for m in M.load(path)] == [SMALL, TWO_ROUTES]
    for name, n in (("maze-15x15.txt", 15), ("maze-30x30.txt", 30)):
        mazes = M.load(ASSETS / name)
        assert mazes and all(m.grid.shape == (n, n) for m in mazes)
        assert all(M.shortest_path(m.grid) is not None for m in mazes)
    hard = M.load(ASSETS / "maze-30x30-hard.csv")
    assert all(M.is_valid_solution(m.grid, m.solution) for m in hard)


# ------------------------------------------------------------------------------------------------- generation

def count_shortest_paths(grid: np.ndarray) -> int:
    """Number of distinct shortest S-G paths, by dynamic programming over BFS layers (independent of maze.py)."""
    from collections import deque

    h, w = grid.shape
    s = tuple(np.argwhere(grid == M.START)[0])
    g = tuple(np.argwhere(grid == M.GOAL)[0])
    dist, ways = {s: 0}, {s: 1}
    queue = deque([s])
    while queue:
        r, c = queue.popleft()
        for nb in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nb[0] < h and 0 <= nb[1] < w and grid[nb] != M.WALL:
                if nb not in dist:
                    dist[nb] = dist[(r, c)] + 1
                    ways[nb] = 0
                    queue.append(nb)
                if dist[nb] == dist[(r, c)] + 1:
                    ways[nb] += ways[(r, c)]
    return ways.get(g, 0)


def test_count_shortest_paths_helper():
    assert count_shortest_paths(M.parse(TWO_ROUTES).grid) == 1
    square = M.parse("#####\n#S  #\n#   #\n#  G#\n#####\n").grid
    assert count_shortest_paths(square) == 6  # choose 2 of 4 moves down


@pytest.mark.parametrize("size", [7, 15, 16, 30])
def test_generate_long_paths_with_loops(size):
    mazes = M.generate(3, seed=size, size=size, workers=1)
    for m in mazes:
        assert m.grid.shape == (size, size)
        assert (m.grid == M.START).sum() == 1 and (m.grid == M.GOAL).sum() == 1
        length = M.shortest_path_length(m.grid)
        assert length >= M.default_min_path(size) and m.rating == length
        assert M.is_valid_solution(m.grid, m.solution)
        assert count_shortest_paths(m.grid) == 1  # the answer is unambiguous
        assert (m.grid[0] == M.WALL).all() and (m.grid[:, 0] == M.WALL).all()
    # loops: more edges among open cells than a tree has (open cells - 1) means several routes
    for m in mazes if size >= 15 else []:  # a 7 x 7 maze has no room for a detour that is not a shortcut
        open_ = m.grid != M.WALL
        edges = int((open_[1:] & open_[:-1]).sum() + (open_[:, 1:] & open_[:, :-1]).sum())
        assert edges - (int(open_.sum()) - 1) >= (1 if size < 30 else 5)


def test_generate_reproducible_and_min_path():
    a = M.generate(4, seed=5, size=11, workers=1)
    b = M.generate(4, seed=5, size=11, workers=2)
    assert [M.to_flat(m.grid) for m in a] == [M.to_flat(m.grid) for m in b]
    assert all(M.shortest_path_length(m.grid) >= 20 for m in M.generate(3, seed=1, size=11, min_path=20))
    with pytest.raises(PuzzleError, match="shortest path of 500"):
        M.generate_one(0, size=9, min_path=500, max_tries=5)
    with pytest.raises(PuzzleError, match="maze size must be 5-30"):
        M.generate(1, seed=0, size=31)


# ---------------------------------------------------------------------------------------------------- encoding

def test_encode_decode_pad():
    m = M.parse(SMALL)
    tokens = M.encode(m.grid)
    assert tokens.dtype == np.int64 and tokens.min() == 1 and tokens.max() == 4
    assert np.array_equal(M.decode(tokens), m.grid)
    padded = M.pad_to(m.grid, 30)
    assert padded.shape == (30, 30) and (padded[7:] == M.WALL).all() and np.array_equal(padded[:7, :7], m.grid)
    assert M.shortest_path_length(padded) == M.shortest_path_length(m.grid)
    t = M.encode(padded)
    t[-1] = 0  # PAD decodes to wall
    assert M.decode(t, 30)[-1, -1] == M.WALL
    assert M.encoding(30).to_dict() == {"kind": "maze", "rows": 30, "cols": 30, "vocab_size": 6, "seq_len": 900}
    with pytest.raises(PuzzleError, match="does not fit"):
        M.pad_to(np.zeros((31, 2), np.int8), 30)


def test_dihedral_augmentation_keeps_mazes_solvable_with_same_length():
    m = M.generate(1, seed=2, size=13)[0]
    length = M.shortest_path_length(m.grid)
    for k in range(8):
        g, s = dihedral(m.grid, k), dihedral(m.solution, k)
        assert M.shortest_path_length(g) == length and M.is_valid_solution(g, s)
