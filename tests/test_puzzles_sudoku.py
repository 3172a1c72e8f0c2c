"""Sudoku: formats, validation, exact solver on famous puzzles, generator, encoding and augmentation."""

from __future__ import annotations

import itertools
import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from puzzle_support import assert_csv_rejected

from engine.puzzles import PuzzleError
from engine.puzzles import sudoku as S

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "puzzles"

# Famous hard puzzles with their published solutions.
FAMOUS = {
    "Arto Inkala 2012": (
        "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4..",
        "812753649943682175675491283154237896369845721287169534521974368438526917796318452",
    ),
    "Platinum Blonde": (
        ".......12........3..23..4....18....5.6..7.8.......9.....85.....9...4.5..47...6...",
        "839465712146782953752391486391824675564173829287659341628537194913248567475916238",
    ),
    "Golden Nugget": (
        ".......39.....1..5..3.5.8....8.9...6.7...2...1..4.......9.8..5..2....6..4..7.....",
        "751846239892371465643259871238197546974562318165438927319684752527913684486725193",
    ),
    "Easter Monster": (
        "1.......2.9.4...5...6...7...5.9.3.......7.......85..4.7.....6...3...9.8...2.....1",
        "174385962293467158586192734451923876928674315367851249719548623635219487842736591",
    ),
    "AI Escargot": (
        "1....7.9..3..2...8..96..5....53..9...1..8...26....4...3......1..4......7..7...3..",
        "162857493534129678789643521475312986913586742628794135356478219241935867897261354",
    ),
}
# Norvig's "hard1": not a proper Sudoku (many solutions); naive solvers take minutes on it.
NORVIG_MULTI = ".....6....59.....82....8....45........3........6..3.54...325..6.................."
# No clash among the givens, but cell (1, 9) has no candidate left: 1-8 in its row, 9 in its column.
NO_SOLUTION = "12345678." + "." * 8 + "9" + "." * 63


def grid(line: str) -> np.ndarray:
    return S.parse(line).givens


# ------------------------------------------------------------------------------------------------------ solver

@pytest.mark.parametrize("name", list(FAMOUS))
def test_famous_hard_puzzles_have_their_known_unique_solution(name):
    question, answer = FAMOUS[name]
    givens = grid(question)
    result = S.solve(givens, limit=2)
    assert result.count == 1 and result.unique
    assert S.to_line(result.solution) == answer
    assert S.is_valid_solution(givens, result.solution)
    assert result.branches > 0  # none of these falls to singles alone


def test_solver_searches_little_on_typical_puzzles_and_is_bounded_on_hard_ones():
    """Search work, counted in guessing nodes, stands in for time (a timed assertion fails on a loaded machine):
    propagation settles typical puzzles almost without guessing, and the pathological case for plain backtracking
    (exponential there) stays within a few hundred nodes."""
    typical = S.generate(20, seed=11, workers=1)
    branches = []
    for p in typical:
        result = S.solve(p.givens)
        assert result.count == 1
        branches.append(result.branches)
    assert float(np.median(branches)) == 0 and max(branches) <= 10
    result = S.solve(grid(NORVIG_MULTI))
    assert result.count == 2 and result.branches < 500


def test_multiple_solutions_are_counted_up_to_the_limit():
    g = grid(NORVIG_MULTI)
    assert S.solve(g, limit=2).count == 2
    assert S.solve(g, limit=5).count == 5
    assert S.solve(np.zeros((4, 4), np.int8), limit=1000).count == 288  # all 4x4 Sudoku grids
    first = S.solve(g, limit=1)
    assert first.count == 1 and S.is_valid_solution(g, first.solution)


def test_no_solution_and_clashing_grids_count_zero():
    assert S.solve(grid(NO_SOLUTION)).count == 0
    clash = np.zeros((9, 9), np.int8)
    clash[0, 0] = clash[0, 5] = 7
    assert S.solve(clash).count == 0
    assert S.solve(clash).solution is None


@cache
def all_4x4_grids() -> np.ndarray:
    """Every valid 4x4 Sudoku, by plain enumeration of row permutations (independent of the solver)."""
    rows = list(itertools.permutations(range(1, 5)))

    def ok(grid: list) -> bool:
        g = np.array(grid)
        cols = all(len(set(g[:, c])) == len(g) for c in range(4))
        boxes = all(len(set(g[r:r + 2, c:c + 2].reshape(-1))) == g[r:r + 2, c:c + 2].size
                    for r in range(0, len(g), 2) for c in (0, 2))
        return cols and boxes

    out: list = [[]]
    for _ in range(4):
        out = [grid + [row] for grid in out for row in rows if ok(grid + [row])]
    return np.array(out)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 287), st.lists(st.booleans(), min_size=16, max_size=16),
       st.lists(st.tuples(st.integers(0, 15), st.integers(0, 4)), max_size=2), st.integers(1, 300))
def test_solution_counts_match_brute_force_on_4x4(index, keep, noise, limit):
    grids = all_4x4_grids()
    assert len(grids) == 288
    givens = np.where(np.array(keep).reshape(4, 4), grids[index], 0).astype(np.int8)
    for cell, value in noise:  # sometimes break it: clashes and dead ends
        givens.reshape(-1)[cell] = value
    fits = np.all((givens == 0) | (grids == givens), axis=(1, 2))
    result = S.solve(givens, limit=limit)
    assert result.count == min(int(fits.sum()), limit)
    if result.count:
        assert S.is_valid_solution(givens, result.solution)


def test_solver_rejects_bad_shapes_with_puzzle_error():
    with pytest.raises(PuzzleError, match="4x4, 6x6 or 9x9"):
        S.solve(np.zeros((5, 5), np.int8))
    with pytest.raises(PuzzleError, match="0-4"):
        S.solve(np.full((4, 4), 7, np.int8))


# --------------------------------------------------------------------------------------------------- parsing

def test_line_forms_dot_and_zero_are_equivalent():
    q = FAMOUS["Arto Inkala 2012"][0]
    a = S.parse(q).givens
    b = S.parse(q.replace(".", "0")).givens
    assert a.dtype == np.int8 and a.shape == (9, 9)
    assert np.array_equal(a, b)
    assert a[0, 0] == 8 and a[0, 1] == 0 and a[1, 2] == 3


def test_multiline_grid_with_decoration_round_trips():
    g = grid(FAMOUS["Golden Nugget"][0])
    text = S.to_text(g)
    assert "|" in text and "+" in text
    assert np.array_equal(S.parse(text).givens, g)
    plain = "\n".join(S.to_line(row[None, :]) for row in g)
    assert np.array_equal(S.parse(plain).givens, g)


@pytest.mark.parametrize("n", [4, 6])
def test_small_sizes_parse_by_length_and_grid(n):
    p = S.generate(1, seed=5, size=n)[0]
    assert S.parse(S.to_line(p.givens)).size == n
    assert np.array_equal(S.parse(S.to_text(p.givens)).givens, p.givens)


@pytest.mark.parametrize(
    "text, message",
    [
        ("1" * 80, "expected 81 cells .* found 80"),
        ("8" + "." * 79 + "x", "column 81: unexpected character 'x'"),
        ("3" + "." * 15, None),  # a valid 4x4 (sanity)
        ("7" + "." * 15, "digit 7 is too large for a 4x4"),
        ("55" + "." * 79, "givens clash: 5 at row 1, column 1 repeats at row 1, column 2"),
        ("", "empty Sudoku"),
    ],
)
def test_parse_errors_name_the_place(text, message):
    if message is None:
        assert S.parse(text).size == 4
        return
    with pytest.raises(PuzzleError, match=message):
        S.parse(text, source="in.txt", line=3)


def test_box_clash_is_reported():
    g = np.zeros((9, 9), np.int8)
    g[0, 0] = 4
    g[2, 2] = 4
    with pytest.raises(PuzzleError, match=r"row 1, column 1 repeats at row 3, column 3"):
        S.parse(S.to_line(g))
    bad = S.conflicts(g)
    assert bad[0, 0] and bad[2, 2] and bad.sum() == 2


def test_6x6_boxes_are_two_rows_by_three_columns():
    g = np.zeros((6, 6), np.int8)
    g[0, 0] = g[1, 2] = 3  # same 2x3 box
    assert S.conflicts(g).sum() == 2
    g = np.zeros((6, 6), np.int8)
    g[0, 0] = g[2, 1] = 3  # different boxes (rows 0-1 vs 2-3)
    assert S.conflicts(g).sum() == 0


def test_csv_with_answers_loads_and_saves(tmp_path):
    rows = [S.Sudoku(grid(q), grid(a), source=name, rating=3.0) for name, (q, a) in FAMOUS.items()]
    path = tmp_path / "hard.csv"
    S.save(path, rows)
    text = path.read_text()
    assert text.splitlines()[0] == "source,question,answer,rating"
    assert FAMOUS["Platinum Blonde"][0] in text  # questions keep '.' blanks like sudoku-extreme
    back = S.load(path)
    assert [p.source for p in back] == list(FAMOUS)
    for p, (q, a) in zip(back, FAMOUS.values(), strict=True):
        assert S.to_line(p.givens) == q and S.to_line(p.solution) == a and p.rating == 3.0
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_reference_style_csv_blank_lines_and_bad_answers(tmp_path):
    q, a = FAMOUS["Easter Monster"]
    path = tmp_path / "x.csv"
    path.write_text(f"source,question,answer,rating\n\nsrc,{q},{a},12\n")
    [p] = S.load(path)
    assert p.rating == 12 and p.source == "src"
    wrong = a[:-1] + ("2" if a[-1] != "2" else "3")
    assert_csv_rejected(S.load, path, f"src,{q},{a}\nsrc,{q},{wrong},1\n", r"x.csv, line 2: expected 4 fields")
    assert_csv_rejected(S.load, path, f"src,{q},{wrong},1\n",
                        r"x.csv, line 2, column 3: answer is not a valid solution")
    assert_csv_rejected(S.load, path, f"src,{q},{a},hard\n", r"line 2, column 4: rating 'hard' is not a number")


def test_line_file_with_comments_and_grid_file(tmp_path):
    path = tmp_path / "lines.txt"
    lines = [q for q, _ in FAMOUS.values()]
    path.write_text("# famous\n" + "\n".join(lines) + "\n\n")
    assert [S.to_line(p.givens) for p in S.load(path)] == lines
    bad = lines[:2] + [lines[2][:-1]]
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(PuzzleError, match=r"lines.txt, line 3: expected 81 cells .* found 80"):
        S.load(path)
    grids = tmp_path / "grids.txt"
    grids.write_text(S.to_text(grid(lines[0])) + "\n" + S.to_text(grid(lines[1])))
    assert [S.to_line(p.givens) for p in S.load(grids)] == lines[:2]


def test_grid_file_error_names_line_and_column(tmp_path):
    text = S.to_text(grid(FAMOUS["AI Escargot"][0])).splitlines()
    text[5] = text[5][:4] + "z" + text[5][5:]
    path = tmp_path / "g.txt"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(PuzzleError, match=r"g.txt, line 6, column 5: unexpected character 'z'"):
        S.load(path)


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(PuzzleError, match="no such file"):
        S.load(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\x00\xff\xfe" * 10)
    with pytest.raises(PuzzleError, match=r"bin.txt, line 1, column 2: not UTF-8"):
        S.load(tmp_path / "bin.txt")


def test_bundled_assets_load():
    famous = S.load(ASSETS / "sudoku-famous-hard.csv")
    assert len(famous) >= 5 and all(S.is_valid_solution(p.givens, p.solution) for p in famous)
    assert S.load(ASSETS / "sudoku-classic.txt")[0].clue_count == 30
    assert {p.size for p in S.load(ASSETS / "sudoku-4x4.txt")} == {4}
    assert {p.size for p in S.load(ASSETS / "sudoku-6x6.txt")} == {6}


# ------------------------------------------------------------------------------------------------- generation

def test_generate_is_unique_in_range_and_reproducible():
    a = S.generate(12, seed=42, clues=(30, 35), workers=1)
    b = S.generate(12, seed=42, clues=(30, 35), workers=1)
    assert [S.to_line(p.givens) for p in a] == [S.to_line(p.givens) for p in b]
    assert len({S.to_line(p.givens) for p in a}) == 12
    for p in a:
        assert 30 <= p.clue_count <= 35
        res = S.solve(p.givens, limit=2)
        assert res.count == 1 and np.array_equal(res.solution, p.solution)
        assert p.rating == res.branches  # rating = branch nodes of the uniqueness check
    c = S.generate(3, seed=43, workers=1)
    assert S.to_line(c[0].givens) != S.to_line(a[0].givens)


def test_generate_with_a_pool_matches_serial():
    serial = S.generate(6, seed=9, workers=1)
    pooled = S.generate(6, seed=9, workers=2)
    assert [S.to_line(p.givens) for p in serial] == [S.to_line(p.givens) for p in pooled]


def test_generate_hard_range_and_small_sizes():
    for p in S.generate(3, seed=1, clues=(22, 27), workers=1):
        assert 22 <= p.clue_count <= 27 and S.solve(p.givens).count == 1
    assert [p.clue_count for p in S.generate(1, seed=1, clues=(22, 22))] == [22]
    for n, (lo, hi) in ((4, (4, 6)), (6, (9, 12))):
        for p in S.generate(5, seed=3, size=n, clues=(lo, hi)):
            assert p.size == n and lo <= p.clue_count <= hi
            assert S.solve(p.givens).count == 1


def test_generate_rejects_impossible_requests():
    with pytest.raises(PuzzleError, match="must lie in 22-81"):
        S.generate(1, seed=0, clues=(17, 21))
    with pytest.raises(PuzzleError, match="must lie in 9-36"):
        S.generate(1, seed=0, size=6, clues=(8, 10))
    with pytest.raises(PuzzleError, match="empty"):
        S.generate(1, seed=0, clues=(35, 30))
    with pytest.raises(PuzzleError, match="unsupported Sudoku size 5"):
        S.generate(1, seed=0, size=5)


# ---------------------------------------------------------------------------------------------------- encoding

def test_encoding_matches_the_reference_builder():
    q, a = FAMOUS["Arto Inkala 2012"]
    # reference: np.frombuffer(q.replace('.', '0').encode(), uint8) - ord('0'), then + 1 for the whole array
    ref_q = np.frombuffer(q.replace(".", "0").encode(), dtype=np.uint8).astype(np.int64) - ord("0") + 1
    ref_a = np.frombuffer(a.encode(), dtype=np.uint8).astype(np.int64) - ord("0") + 1
    assert np.array_equal(S.encode(grid(q)), ref_q)
    assert np.array_equal(S.encode(S.parse(a).givens), ref_a)
    assert S.encode(grid(q)).dtype == np.int64
    enc = S.encoding(9)
    assert (enc.vocab_size, enc.seq_len, enc.kind) == (11, 81, "sudoku")
    assert np.array_equal(S.decode(ref_q), grid(q))


def test_decode_maps_pad_and_out_of_range_to_blank():
    t = np.full(16, 0)
    t[1] = 1
    t[2] = 5  # digit 4
    t[3] = 9  # digit 8: too large for 4x4
    d = S.decode(t)
    assert d.shape == (4, 4) and d[0, 2] == 4 and d[0, 3] == 0 and d[0, 0] == 0


# ------------------------------------------------------------------------------------------------ augmentation

@pytest.mark.parametrize("n", [4, 6, 9])
def test_transforms_preserve_validity_and_invert(n):
    rng = np.random.default_rng(n)
    p = S.generate(1, seed=n, size=n)[0]
    for _ in range(20):
        t = S.random_transform(rng, n)
        sol = t.apply(p.solution)
        assert S.is_valid_solution(t.apply(p.givens), sol)
        assert np.array_equal(t.invert(sol), p.solution)
        assert np.array_equal(t.invert(t.apply(p.givens)), p.givens)
        assert S.solve(t.apply(p.givens)).count == 1
        if n == 6:
            assert not t.transpose  # a transpose would turn 2x3 boxes into 3x2


def test_transform_matches_the_reference_mapping():
    rng = np.random.default_rng(0)
    x = np.arange(81).reshape(9, 9) % 9 + 1
    for _ in range(10):
        t = S.random_transform(rng, 9)
        src = x.T if t.transpose else x
        mapping = np.array([t.row_perm[i // 9] * 9 + t.col_perm[i % 9] for i in range(81)])
        expected = t.digit_map[src.flatten()[mapping].reshape(9, 9)]
        assert np.array_equal(t.apply(x), expected)
        assert t.digit_map[0] == 0 and sorted(t.digit_map[1:]) == list(range(1, 10))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.txt"
    S.save(path, S.generate(2, seed=1, workers=1))
    assert len(path.read_text().splitlines()) == 2
    assert os.listdir(tmp_path) == ["out.txt"]
