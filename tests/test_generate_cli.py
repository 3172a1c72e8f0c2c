"""`trm-lab generate`: a real process writing CSV / lines / text grids, progress on stderr, errors as messages."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from engine.puzzles import maze as M
from engine.puzzles import sudoku as S

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trm_lab.cli", "generate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_sudoku_csv_to_stdout_is_reference_layout_and_reproducible():
    out = run("sudoku", "--count", "5", "--seed", "7", "--clues", "30-35")
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["source", "question", "answer", "rating"]
    assert len(rows) == 6
    for _, q, a, _ in rows[1:]:
        assert len(q) == 81 and len(a) == 81 and "0" not in a
        givens = S.parse(q).givens
        assert 30 <= np.count_nonzero(givens) <= 35
        assert S.solve(givens).count == 1 and S.to_line(S.solve(givens).solution) == a
    assert "5/5" in out.stderr  # progress goes to stderr
    again = run("sudoku", "--count", "5", "--seed", "7", "--clues", "30-35")
    assert again.stdout == out.stdout
    assert [p.givens.tolist() for p in S.generate(5, seed=7, clues=(30, 35))] == \
        [S.parse(r[1]).givens.tolist() for r in rows[1:]]


def test_output_format_follows_suffix(tmp_path):
    lines = tmp_path / "p.txt"
    assert run("sudoku", "--count", "3", "--seed", "1", "--size", "6", "-o", str(lines)).returncode == 0
    text = lines.read_text().splitlines()
    assert len(text) == 3 and all(len(t) == 36 for t in text)
    assert all(p.size == 6 for p in S.load(lines))
    mazes = tmp_path / "m.csv"
    res = run("maze", "--count", "2", "--seed", "3", "--size", "11", "-o", str(mazes))
    assert res.returncode == 0, res.stderr
    loaded = M.load(mazes)
    assert len(loaded) == 2 and all(M.is_valid_solution(m.grid, m.solution) for m in loaded)
    grids = tmp_path / "m.txt"
    assert run("maze", "--count", "2", "--seed", "3", "--size", "11", "-o", str(grids)).returncode == 0
    assert [M.to_flat(m.grid) for m in M.load(grids)] == [M.to_flat(m.grid) for m in loaded]


def _open_pairs(grid: np.ndarray) -> int:
    passable = grid != M.WALL
    return int((passable[1:] & passable[:-1]).sum() + (passable[:, 1:] & passable[:, :-1]).sum())


def test_loops_zero_gives_perfect_mazes_and_the_default_has_loops(tmp_path):
    perfect, looped = tmp_path / "perfect.csv", tmp_path / "looped.csv"
    assert run("maze", "--count", "4", "--seed", "5", "--size", "13", "--loops", "0", "-o", str(perfect)).returncode \
        == 0
    assert run("maze", "--count", "4", "--seed", "5", "--size", "13", "-o", str(looped)).returncode == 0
    for m in M.load(perfect):  # a tree: one fewer corridor joint than open cells, so one route between any two
        assert _open_pairs(m.grid) == int((m.grid != M.WALL).sum()) - 1
    assert any(_open_pairs(m.grid) > int((m.grid != M.WALL).sum()) - 1 for m in M.load(looped))


def main(capsys, *args: str) -> tuple[int, str]:
    """In-process run (same code path as the console script, without a process start per case)."""
    from trm_lab.cli import main as cli_main

    try:
        code = cli_main(["generate", *args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    return code, capsys.readouterr().err


def test_bad_arguments_give_one_line_errors(tmp_path, capsys):
    res = run("sudoku", "--count", "2", "--clues", "5-10")
    assert res.returncode == 2 and "clues for a 9x9 Sudoku must lie in" in res.stderr
    assert "Traceback" not in res.stderr
    for args, message in ((("maze", "--size", "40"), "maze size must be 5-30"),
                          (("maze", "--clues", "30-35"), "--clues and --rating apply to Sudoku only"),
                          (("sudoku", "--loops", "0"), "--loops, --style and --density apply to mazes only"),
                          (("maze", "--loops", "1.5"), "--loops must be between 0 and 1"),
                          (("sudoku", "--clues", "abc"), "expected a range like 30-35"),
                          (("sudoku", "--size", "5"), "unsupported Sudoku size 5"),
                          (("sudoku", "--count", "-1"), "--count must be >= 0")):
        code, err = main(capsys, *args)
        assert code == 2 and message in err, (args, err)
    (tmp_path / "dir.csv").mkdir()
    code, err = main(capsys, "sudoku", "--count", "1", "-o", str(tmp_path / "dir.csv"))
    assert code == 1 and "cannot write" in err and "Traceback" not in err


def test_rating_targets_difficulty_and_is_written_to_the_csv():
    out = run("sudoku", "--count", "3", "--seed", "5", "--rating", "5-", "--workers", "1")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 3
    for row in rows:
        givens = S.parse(row["question"]).givens
        assert float(row["rating"]) >= 5 and float(row["rating"]) == S.rate(givens)
        assert 22 <= np.count_nonzero(givens) <= 27 and S.solve(givens).count == 1  # --rating's default givens
    easy = run("sudoku", "--count", "3", "--seed", "5", "--clues", "40-45", "--rating", "0-0", "--workers", "1")
    assert easy.returncode == 0 and all(r["rating"] == "0" for r in csv.DictReader(io.StringIO(easy.stdout)))
    # the famous hard puzzles need guesses; a puzzle singles solve needs none
    famous = S.load(ROOT / "assets" / "puzzles" / "sudoku-famous-hard.csv")
    assert min(S.rate(p.givens) for p in famous) >= 4 and max(S.rate(p.givens) for p in famous) > 100


def test_bad_rating_ranges_are_one_line_errors():
    for args, message in ((("sudoku", "--rating", "9-3"), "rating range 9-3 is empty"),
                          (("maze", "--rating", "5-"), "--clues and --rating apply to Sudoku only"),
                          (("sudoku", "--rating", "x"), "expected a range like 8-40")):
        out = run(*args)
        last = out.stderr.strip().splitlines()[-1]  # argparse puts its usage line before a bad value's message
        assert out.returncode == 2 and message in last and "Traceback" not in out.stderr, out.stderr


# ---- hostile arguments: a negative seed, a huge count, more workers than puzzles ------------------------------------
def test_a_negative_seed_is_a_clear_error():
    res = run("sudoku", "--seed", "-1", "--size", "4")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == "trm-lab generate: --seed must be 0 or more, got -1"


def test_a_huge_count_streams_to_the_file_without_growing(tmp_path):
    """A billion puzzles: the temp file beside the output grows while the process stays small; killed, nothing is
    left at the output's name (the write is atomic)."""
    out = tmp_path / "many.txt"
    proc = subprocess.Popen([sys.executable, "-m", "trm_lab.cli", "generate", "sudoku", "--size", "4", "--count",
                             "1000000000", "--workers", "1", "-o", str(out)], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while sum(p.stat().st_size for p in tmp_path.glob(".many.txt.*.tmp")) < 20_000:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        rss_kb = int(next(line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS")).split()[1])
        assert rss_kb < 400_000
    finally:
        proc.kill()
        proc.wait()
    assert not out.exists()


def test_a_huge_count_streams_to_stdout():
    proc = subprocess.run(f"{sys.executable} -m trm_lab.cli generate sudoku --size 4 --count 1000000000 "
                          "--workers 1 | head -n 3", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines()[0] == "source,question,answer,rating" and len(proc.stdout.splitlines()) == 3


def test_the_worker_pool_is_never_larger_than_the_puzzle_count(monkeypatch):
    import multiprocessing

    sizes = []
    real = multiprocessing.get_context

    class Recording:
        def __init__(self, ctx):
            self.ctx = ctx

        def Pool(self, processes):  # noqa: N802  (multiprocessing's name)
            sizes.append(processes)
            return self.ctx.Pool(processes)

    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: Recording(real(method)))
    assert len(S.generate(2, seed=1, size=4, workers=8)) == 2
    assert sizes == [2]
