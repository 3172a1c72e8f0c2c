"""`trm-lab solve/eval --trajectories K --max-steps N` with the bundled sudoku9: the pick and its reason, the sweep's
JSON, table and PNG, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.puzzles import sudoku
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from trm_lab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_solve_with_trajectories_names_the_winner_and_why(tmp_path, capsys):
    p = sudoku.generate_one(10, (22, 24))  # the plain model's 16 steps fail this one (tests/test_engine_think.py)
    path = tmp_path / "hard.txt"
    path.write_text(sudoku.to_line(p.givens) + "\n")
    code, out, _ = run(capsys, "solve", str(path), "--trajectories", "8", "--max-steps", "16", "--json",
                       "--device", "cpu")
    assert code == 0
    result = json.loads(out)["puzzles"][0]
    assert result["valid"] and result["correct"] and result["answer"] == p.solution.tolist()
    assert result["chosen"] > 0 and "obeys every rule" in result["reason"] and result["steps"] < 16
    trajectories = result["trajectories"]
    assert len(trajectories) == 8 and trajectories[0]["view"] == "as given"
    assert trajectories[result["chosen"]]["valid_at"] == result["steps"]
    assert all(len(t["halt_prob"]) == result["steps"] for t in trajectories)
    code, out, _ = run(capsys, "solve", str(path), "--trajectories", "8", "--max-steps", "16", "--color", "never",
                       "--device", "cpu")
    assert code == 0 and f"from trajectory {result['chosen'] + 1} (" in out and "Valid yes" in out


def test_eval_sweep_writes_the_scaling_table_and_plot(tmp_path, capsys):
    puzzles = [sudoku.generate_one(s, (22, 24)) for s in (9, 10, 11)]
    path = tmp_path / "p.csv"
    sudoku.save(path, puzzles)
    prefix = tmp_path / "curve"
    code, out, err = run(capsys, "eval", str(path), "--trajectories", "1,8", "--max-steps", "2,8", "--json",
                         "--sweep-out", str(prefix), "--device", "cpu")
    assert code == 0, err
    report = json.loads(out)
    grid = {(g["trajectories"], g["max_steps"]): g for g in report["grid"]}
    assert set(grid) == {(1, 2), (1, 8), (8, 2), (8, 8)}
    assert grid[(8, 8)]["accuracy"] == 1.0 and grid[(1, 8)]["accuracy"] < 1.0  # width pays on these
    for k in (1, 8):
        assert grid[(k, 2)]["accuracy"] <= grid[(k, 8)]["accuracy"]
        assert grid[(k, 2)]["mean_halting_step"] <= 2 and grid[(k, 2)]["seconds"] <= grid[(k, 8)]["seconds"]
    table = (tmp_path / "curve.md").read_text()
    assert "| 8 | " in table and "100.0%" in table
    png = (tmp_path / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    code, out, _ = run(capsys, "eval", str(path), "--trajectories", "8", "--max-steps", "8", "--json",
                       "--device", "cpu")
    single = json.loads(out)
    assert code == 0 and single["accuracy"] == 1.0 and "table" not in single
    assert np.isclose(single["exact_accuracy"], 1.0)


def test_think_harder_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "p.txt"
    path.write_text(sudoku.to_line(sudoku.generate_one(1, (40, 40)).givens) + "\n")
    code, _, err = run(capsys, "solve", str(path), "--trajectories", "2", "--noise", "-1", "--device", "cpu")
    assert code == 2 and err.strip() == "trm-lab solve: --noise must be at least 0"
    code, _, err = run(capsys, "solve", str(ROOT / "assets" / "puzzles" / "arc-007bbfb7.json"), "--trajectories", "2")
    assert code == 2 and "work on Sudoku and mazes" in err and len(err.strip().splitlines()) == 1
