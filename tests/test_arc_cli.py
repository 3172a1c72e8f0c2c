"""`trm-lab adapt` and `trm-lab eval-arc` as a person runs them: real files, a real process, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.puzzles import arc
from trm_lab.cli import main

ROOT = Path(__file__).resolve().parents[1]
SWAP = np.array([0, 2, 1, 4, 3, 5, 6, 7, 8, 9])
# The step cap decides; the budget only guards (a 20 s wall-time budget ran out at 3 steps on a loaded machine).
QUICK = ["--budget-s", "600", "--max-steps", "4", "--views", "4", "--threads", "1"]


def _trm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "trm_lab.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _task_json(seed: int, tests: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    grids = [rng.integers(0, 5, size=(3, 4)).tolist() for _ in range(3 + tests)]
    return {
        "train": [{"input": g, "output": SWAP[np.array(g)].tolist()} for g in grids[:3]],
        "test": [{"input": g} for g in grids[3:]],
    }


def _valid_grid(grid) -> bool:
    return (isinstance(grid, list) and grid and all(isinstance(r, list) and len(r) == len(grid[0]) for r in grid)
            and all(type(v) is int and 0 <= v <= 9 for r in grid for v in r))


def test_eval_arc_writes_a_valid_submission_and_reports_pass_at_2(tmp_path):
    challenges = {"aaa111": _task_json(1, tests=2), "bbb222": _task_json(2)}
    solutions = {tid: [SWAP[np.array(p["input"])].tolist() for p in t["test"]] for tid, t in challenges.items()}
    (tmp_path / "ch.json").write_text(json.dumps(challenges))
    (tmp_path / "sol.json").write_text(json.dumps(solutions))
    out = tmp_path / "submission.json"
    proc = _trm("eval-arc", str(tmp_path / "ch.json"), "--solutions", str(tmp_path / "sol.json"), "--json",
                "-o", str(out), *QUICK)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["tasks"] == 2 and report["scored_tasks"] == 2
    assert 0.0 <= report["pass@2"] <= 1.0
    assert [r["task_id"] for r in report["per_task"]] == ["aaa111", "bbb222"]
    assert all(r["train_steps"] == 4 and r["seconds"] > 0 for r in report["per_task"])
    assert "[2/2] bbb222" in proc.stderr  # human progress goes to stderr

    sub = json.loads(out.read_text())
    assert set(sub) == {"aaa111", "bbb222"}
    assert len(sub["aaa111"]) == 2 and len(sub["bbb222"]) == 1  # one entry per test input
    for entries in sub.values():
        for entry in entries:
            assert set(entry) == {"attempt_1", "attempt_2"}
            assert _valid_grid(entry["attempt_1"]) and _valid_grid(entry["attempt_2"])
    # The reported score is the submission scored against the solutions.
    scores = []
    for tid, entries in sub.items():
        hits = [sol in (e["attempt_1"], e["attempt_2"]) for e, sol in zip(entries, solutions[tid], strict=True)]
        scores.append(sum(hits) / len(hits))
    assert report["pass@2"] == sum(scores) / len(scores)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    """The same command in this process (saves a torch import per call on a busy machine)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_arc_on_the_bundled_corpus_without_files(capsys):
    code, out, err = _run(capsys, "eval-arc", "--corpus", "arc1-eval", "--tasks", "1", "--json", *QUICK)
    assert code == 0, err
    report = json.loads(out)
    first = sorted(arc.bundled_tasks("arc1", "eval"))[0]
    assert report["tasks"] == 1 and report["per_task"][0]["task_id"] == first
    assert 0.0 <= report["pass@2"] <= 1.0


def test_adapt_prints_attempts_with_votes(tmp_path, capsys):
    path = tmp_path / "swap.json"
    path.write_text(json.dumps(_task_json(3)))
    code, out, err = _run(capsys, "adapt", str(path), "--fresh", *QUICK)
    assert code == 0, err
    assert "swap: 4 views on a 6x6 canvas, 4 steps" in out
    assert "attempt 1 (" in out and "of 4 votes" in out

    code, out, err = _run(capsys, "adapt", str(path), "--json", *QUICK)
    assert code == 0, err
    result = json.loads(out)
    assert result["task_id"] == "swap" and len(result["test"]) == 1
    assert sum(c["votes"] for c in result["test"][0]["candidates"]) <= 4
    assert len(result["test"][0]["attempts"]) == 2


def test_supervision_steps_sets_the_fresh_models_steps_per_sample(tmp_path, capsys):
    path = tmp_path / "swap.json"
    path.write_text(json.dumps(_task_json(5)))
    args = ["--fresh", "--budget-s", "20", "--max-steps", "3", "--views", "4", "--threads", "1",
            "--supervision-steps", "3"]
    code, out, err = _run(capsys, "adapt", str(path), "--json", *args)
    assert code == 0, err
    final = json.loads(out)["final"]
    assert final["step"] == 3 and final["mean_steps"] == 3.0  # the whole batch halts together at step 3


def test_bad_input_is_a_message_naming_the_file_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text('{"train": [{"input": [[1, 2]], "output": [[1, 12]]}], "test": [{"input": [[1]]}]}')
    code, _, err = _run(capsys, "adapt", str(bad), *QUICK)
    assert code == 2 and "broken.json" in err and "row 0, column 1" in err

    code, _, err = _run(capsys, "eval-arc", str(tmp_path / "missing.json"), *QUICK)
    assert code == 2 and "missing.json" in err

    good = tmp_path / "good.json"
    good.write_text(json.dumps(_task_json(4)))
    code, _, err = _run(capsys, "adapt", str(good), "--base", str(tmp_path / "nope.safetensors"), *QUICK)
    assert code == 2 and "nope.safetensors" in err

    code, _, err = _run(capsys, "eval-arc", "--corpus", "arc1-eval", "--tasks", "0", *QUICK)
    assert code == 2 and "--tasks" in err

    code, _, err = _run(capsys, "adapt", str(good), "--supervision-steps", "0", *QUICK)
    assert code == 2 and "--supervision-steps must be 1-16" in err
