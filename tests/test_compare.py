"""Two models on one puzzle: `trm-lab solve --model A --model B` and the lockstep pairing it shares with the window."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import torch

from engine.hrm import HRM, HRMConfig
from engine.puzzles import sudoku
from tests.test_engine_cli import SUDOKU, dirs, run, save  # noqa: F401  (fixture)
from tests.test_engine_support import mapping_model, single_thread  # noqa: F401  (autouse fixture)
from trm_lab.compare import differ_mask, lockstep


def small_hrm(enc, seed: int = 0) -> HRM:
    torch.manual_seed(seed)
    cfg = HRMConfig(vocab_size=enc.vocab_size, seq_len=enc.seq_len, hidden_size=16, num_heads=2, expansion=2.0,
                    H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=3, forward_dtype="float32")
    model = HRM(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)  # confident, fixed answers from random weights
    return model.eval()


def test_lockstep_keeps_a_stopped_models_last_answer():
    a = [SimpleNamespace(grid=np.array([[1, 2]])), SimpleNamespace(grid=np.array([[1, 3]]))]
    b = [SimpleNamespace(grid=np.array([[1, 3]]))]
    pairs = lockstep(a, b)
    assert [(x is a[i], y is b[0]) for (x, y, _), i in zip(pairs, (0, 1), strict=True)] == [(True, True)] * 2
    assert pairs[0][2].tolist() == [[False, True]] and not pairs[1][2].any()
    assert differ_mask(np.zeros((2, 3)), np.zeros((1, 2))).tolist() == [[False, False, True], [True, True, True]]


def test_solve_compares_a_trm_and_an_hrm_in_lockstep(dirs, tmp_path, capsys):  # noqa: F811
    enc = sudoku.encoding(4)
    trm = save(tmp_path / "trm-fill.safetensors", mapping_model(enc, {1: 4}, halt_logits={2: 3.0}), enc)
    hrm = save(tmp_path / "hrm-random.safetensors", small_hrm(enc), enc)
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, out, _ = run(capsys, "solve", str(puzzles), "--model", str(trm), "--model", str(hrm), "--json",
                       "--halt-threshold", "0.9", "--device", "cpu")
    assert code == 0
    report = json.loads(out)
    assert report["models"] == ["trm-fill", "hrm-random"] and len(report["puzzles"]) == 2
    first = report["puzzles"][0]
    a, b = first["results"]
    assert (a["arch"], b["arch"]) == ("trm", "hrm")
    # the TRM halts at step 1 on the first puzzle (its first cell, a 1, is token 2); the HRM runs its 3 steps
    assert (a["steps"], b["steps"]) == (1, 3) and len(first["timeline"]) == 3
    assert (a["valid"], a["correct"]) == (True, True)
    hrm_answer = np.array(b["answer"])
    expected_differ = np.argwhere(np.array(a["answer"]) != hrm_answer).tolist()
    assert first["differing_cells"] == expected_differ and first["agree"] == (not expected_differ)
    assert first["timeline"][-1]["differ"] == len(expected_differ)
    assert all(row["halt_prob"][0] > 0.9 for row in first["timeline"])  # the halted TRM keeps its last step
    assert isinstance(b["seconds"], float) and b["halting_step"] in (None, 1, 2, 3)

    code, out, _ = run(capsys, "solve", str(puzzles), "--model", str(trm), "--model", str(hrm), "--steps", "2",
                       "--color", "never", "--device", "cpu")
    assert code == 0 and "== puzzle 1 (1/2): trm-fill | hrm-random ==" in out
    assert "trm-fill: answer after 2 steps: valid yes, correct yes" in out
    assert out.count("cells differ") == 4
    assert "1 2 3 4   " in out  # the TRM's grid with the HRM's beside it


def test_compare_refuses_a_third_model_and_eval_a_second(dirs, tmp_path, capsys):  # noqa: F811
    enc = sudoku.encoding(4)
    m = save(tmp_path / "m.safetensors", mapping_model(enc, {1: 4}), enc)
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, _, err = run(capsys, "solve", str(puzzles), "--model", str(m), "--model", str(m), "--model", str(m))
    assert code == 2 and err.strip() == "trm-lab solve: solve takes at most 2 --model"
    code, _, err = run(capsys, "eval", str(puzzles), "--model", str(m), "--model", str(m))
    assert code == 2 and err.strip() == "trm-lab eval: eval takes at most 1 --model"
