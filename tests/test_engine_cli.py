"""`trm-lab solve`, `eval` and `models` against models whose answers the tests set by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import registry
from engine.checkpoint import save_checkpoint
from engine.puzzles import arc, maze, sudoku
from tests.test_engine_support import mapping_model, single_thread  # noqa: F401  (autouse fixture)
from trm_lab.cli import main

ROOT = Path(__file__).resolve().parents[1]
# 4x4 Sudoku with solution 1234/3412/2143/4321: the first misses only 3s, the second only 2s
SUDOKU = "12.4.412214.4.21\n1.34341..14343.1\n"
CORRIDOR = "#####\n#S  #\n### #\n#G  #\n#####\n"  # every open cell lies on the one shortest path


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """An empty bundled folder and a private user data folder, so only the test's models exist."""
    monkeypatch.setattr(registry, "BUNDLED_DIR", tmp_path / "bundled")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    user = registry.user_models_dir()
    user.mkdir(parents=True)
    return user


def save(path: Path, model, encoding, **card) -> Path:
    save_checkpoint(path, model, encoding=encoding, training={"preset": "hand-set"})
    if card:
        path.with_suffix(".json").write_text(json.dumps(card))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_solve_uses_the_default_model_and_judges_each_answer(dirs, tmp_path, capsys):
    enc = sudoku.encoding(4)
    save(dirs / "fill-threes.safetensors", mapping_model(enc, {1: 4}), enc)
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, out, _ = run(capsys, "solve", str(puzzles), "--steps", "3", "--json", "--device", "cpu")
    assert code == 0
    report = json.loads(out)
    assert report["model"] == "fill-threes" and report["kind"] == "sudoku"
    first, second = report["puzzles"]
    assert [s["step"] for s in first["steps"]] == [1, 2, 3]
    assert first["answer"] == [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]
    assert (first["valid"], first["correct"], second["valid"], second["correct"]) == (True, True, False, False)
    assert first["steps"][0]["changed"] == 4 and first["steps"][1]["changed"] == 0
    assert first["halting_step"] is None and first["steps"][0]["halt_prob"] < 0.05

    code, out, _ = run(capsys, "solve", str(puzzles), "--steps", "3", "--color", "always", "--device", "cpu")
    assert code == 0 and "\x1b[1;32m3\x1b[0m" in out and "valid yes, correct yes" in out
    assert out.count("step  ") == 6 and "valid no, correct no" in out


def test_halt_threshold_stops_a_confident_puzzle(dirs, tmp_path, capsys):
    enc = sudoku.encoding(4)
    model = save(tmp_path / "m.safetensors", mapping_model(enc, {1: 4}, halt_logits={3: 3.0}), enc)  # first digit 2
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("214..41212.44.21\n" + SUDOKU)  # starts with 2: confident at once
    code, out, _ = run(capsys, "solve", str(puzzles), "--model", str(model), "--halt-threshold", "0.9", "--json",
                       "--device", "cpu")
    assert code == 0
    halting, other, _ = json.loads(out)["puzzles"]
    assert len(halting["steps"]) == 1 and halting["steps"][0]["halted"] and halting["halting_step"] == 1
    assert len(other["steps"]) == 16  # the model's trained count by default


def test_eval_reports_accuracy_per_step_and_speed(dirs, tmp_path, capsys):
    enc = sudoku.encoding(4)
    model = save(tmp_path / "m.safetensors", mapping_model(enc, {1: 4}, halt_logits={1: 2.0}), enc)
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU + ".234341221434321\n")  # the third starts blank: confident (halts) at step 1
    code, out, err = run(capsys, "eval", str(puzzles), "--model", str(model), "--steps", "4", "--json",
                         "--batch", "2", "--device", "cpu")
    assert code == 0 and "eval: 3/3 puzzles" in err
    r = json.loads(out)
    assert r["puzzles"] == 3 and r["steps"] == 4
    assert r["exact_accuracy"] == pytest.approx(1 / 3)  # the first; the third's blank becomes 3, not 1
    assert r["cell_accuracy"] == pytest.approx((16 + 12 + 15) / 48)
    assert r["exact_accuracy_per_step"] == [pytest.approx(1 / 3)] * 4
    assert r["mean_halting_step"] == 1.0 and r["never_halted"] == 2 and r["puzzles_per_s"] > 0
    assert 0 < r["cpu_seconds"] and r["cpu_ms_per_puzzle"] == pytest.approx(1000 * r["cpu_seconds"] / 3)
    code, out, _ = run(capsys, "eval", str(puzzles), "--model", str(model), "--steps", "2", "--device", "cpu")
    assert code == 0 and "exact accuracy 0.3333" in out and "mean halting step 1.00 (2 never halted)" in out


def test_mazes_pad_to_the_model_and_arc_compares_with_the_known_output(dirs, tmp_path, capsys):
    enc = maze.encoding(7)
    save(dirs / "paths.safetensors", mapping_model(enc, {2: 5}), enc)  # every open cell becomes path
    mazes = tmp_path / "m.txt"
    mazes.write_text(CORRIDOR + "\n" + CORRIDOR.replace("### #", "#   #"))
    code, out, _ = run(capsys, "eval", str(mazes), "--steps", "1", "--json", "--device", "cpu")
    assert code == 0
    r = json.loads(out)
    assert r["exact_accuracy"] == 0.5 and r["valid_rate"] == 0.5  # the second has open cells off the path

    enc = arc.encoding(8)
    save(tmp_path / "arc.safetensors", mapping_model(enc, {3: 4}), enc)  # colour 1 -> colour 2
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"train": [{"input": [[1]], "output": [[2]]}],
                                "test": [{"input": [[1, 0], [0, 1]], "output": [[2, 0], [0, 2]]},
                                         {"input": [[1, 5]], "output": [[1, 5]]}]}))
    code, out, _ = run(capsys, "solve", str(task), "--model", str(tmp_path / "arc.safetensors"), "--steps", "1",
                       "--json", "--device", "cpu")
    assert code == 0
    first, second = json.loads(out)["puzzles"]
    assert first["answer"] == [[2, 0], [0, 2]] and first["correct"] is True and second["correct"] is False


def test_models_lists_bundled_then_user(dirs, capsys):
    enc = sudoku.encoding(4)
    registry.BUNDLED_DIR.mkdir()
    save(registry.BUNDLED_DIR / "b.safetensors", mapping_model(enc, {}), enc, summary="bundled one")
    save(dirs / "a.safetensors", mapping_model(maze.encoding(5), {}), maze.encoding(5))
    (dirs / "broken.safetensors").write_bytes(b"junk")
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    models = json.loads(out)["models"]
    assert [(m["name"], m["kind"], m["size"], m["bundled"]) for m in models] == [
        ("b", "sudoku", "4x4", True), ("a", "maze", "5x5", False)]
    assert models[0]["summary"] == "bundled one" and models[0]["mixer"] == "attention"
    code, out, _ = run(capsys, "models")
    assert code == 0 and out.splitlines()[0].startswith("b  sudoku 4x4    bundled")
    assert registry.default_model("maze", 5).name == "a" and registry.default_model("maze", 3).name == "a"
    assert registry.default_model("maze", 9) is None and registry.default_model("sudoku", 9) is None


def test_errors_are_one_line_and_exit_2(dirs, tmp_path, capsys):
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, _, err = run(capsys, "solve", str(puzzles))
    assert code == 2 and err.strip().count("\n") == 0 and "no bundled or user model for 4x4 sudoku" in err
    maze_model = save(tmp_path / "maze.safetensors", mapping_model(maze.encoding(5), {}), maze.encoding(5))
    code, _, err = run(capsys, "eval", str(puzzles), "--model", str(maze_model))
    assert code == 2 and "solves maze puzzles" in err and "holds sudoku" in err
    code, _, err = run(capsys, "solve", str(puzzles), "--model", "no-such-model")
    assert code == 2 and "no model by that name" in err
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    code, _, err = run(capsys, "solve", str(puzzles), "--model", str(broken))
    assert code == 2 and "broken.safetensors" in err
    bad = tmp_path / "bad.txt"
    bad.write_text("12345\n")
    code, _, err = run(capsys, "solve", str(bad), "--model", str(maze_model))
    assert code == 2 and "bad.txt" in err

    proc = subprocess.run([sys.executable, "-m", "trm_lab.cli", "solve", str(tmp_path / "missing.txt")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"trm-lab solve: {tmp_path / 'missing.txt'}: no such file"


def test_solve_gives_a_maze_as_its_characters_and_says_when_a_puzzle_has_no_solution(dirs, tmp_path, capsys):
    enc = maze.encoding(7)
    save(dirs / "paths.safetensors", mapping_model(enc, {2: 5}), enc)  # every open cell becomes path
    mazes = tmp_path / "m.txt"
    walled = CORRIDOR.replace("### #", "#####")  # the route from S to G is walled off
    mazes.write_text(CORRIDOR + "\n" + walled)
    code, out, err = run(capsys, "solve", str(mazes), "--steps", "1", "--json", "--device", "cpu")
    assert code == 1 and "1 of 2 puzzles" in err and "no solution" in err  # never claims success
    first, second = json.loads(out)["puzzles"]
    # the answer in the file's own characters; the cell codes beside it
    assert first["answer"] == ["#####", "#Soo#", "###o#", "#Goo#", "#####"]
    assert first["answer_codes"][1] == [0, 2, 4, 4, 0]
    assert first["steps"][-1]["grid"] == first["answer"]
    assert first["solvable"] is True and first["valid"] is True
    assert second["solvable"] is False and "walls cut the start off" in second["no_solution"]
    assert second["valid"] is False and second["correct"] is False
    code, out, _ = run(capsys, "solve", str(mazes), "--steps", "1", "--device", "cpu", "--color", "never")
    assert code == 1 and "this puzzle has no solution: walls cut the start off" in out
    assert "no solution exists, so it cannot be right" in out
