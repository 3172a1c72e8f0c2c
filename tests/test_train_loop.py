"""The training loop: it learns, stop+resume repeats the uninterrupted curve exactly, eval rows carry the metrics,
the schedule and the ACT carry behave like the reference."""

import math
import threading
import time

import pytest
import torch
from train_support import sudoku4_dataset

from engine.checkpoint import load_checkpoint
from engine.puzzles.kind import get_kind
from trainers.config import TrainConfig
from trainers.data import MemoryDataset, build_datasets
from trainers.loop import evaluate, lr_at, train
from trainers.presets import list_presets, load_preset
from trainers.rundir import latest_checkpoint, read_metrics, read_status

MICRO = {
    "model": {"hidden_size": 16, "num_heads": 2, "expansion": 1.0, "L_layers": 1, "H_cycles": 2, "L_cycles": 1,
              "halt_max_steps": 3, "mixer": "mlp", "pos_encodings": "none"},
    "data": {"kind": "sudoku", "size": 4},
    "steps": 12, "batch_size": 8, "lr": 0.003, "warmup_steps": 3, "schedule": "cosine", "min_lr_ratio": 0.1,
    "eval_every": 0, "checkpoint_every": 5, "log_every": 1, "threads": 1, "ema": 0.9,
}


@pytest.fixture(scope="module")
def sudoku4():
    return sudoku4_dataset(5, 48)


def test_tiny_preset_learns_4x4_sudoku_far_above_chance():
    cfg = load_preset("tiny-sudoku4")
    dataset, eval_set = build_datasets(cfg.data, cfg.seed)
    result = train(cfg, dataset, None, eval_set=eval_set)
    ev = result.last_eval
    # chance of guessing a whole 4x4 grid with 6-10 blanks right is < 1e-3; the cells alone ~ 60% (givens copied)
    assert ev["exact_accuracy"] > 0.6, ev
    assert ev["accuracy"] > 0.9
    assert result.state == "finished" and result.step == cfg.steps


def test_stop_and_resume_repeat_the_uninterrupted_run_exactly(tmp_path, sudoku4):
    cfg = TrainConfig.from_dict(MICRO)
    whole = train(cfg, sudoku4, tmp_path / "whole")
    stop = threading.Event()

    def stop_during_7(row):  # like a SIGTERM arriving while step 7 is logged: step 8 is the last one
        if row.get("split") == "train" and row["step"] == 7:
            stop.set()

    part = train(cfg, sudoku4, tmp_path / "part", on_metrics=stop_during_7, stop_event=stop)
    assert part.state == "stopped" and part.step == 8
    assert read_status(tmp_path / "part")["state"] == "stopped"
    assert latest_checkpoint(tmp_path / "part").name == "step_8.safetensors"
    resumed = train(cfg, sudoku4, tmp_path / "part", resume=True)
    assert resumed.step == 12
    for p, q in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(whole.ema_model.parameters(), resumed.ema_model.parameters(), strict=True):
        assert torch.equal(p, q)
    a = [r["loss"] for r in read_metrics(tmp_path / "whole")[0]]
    b = [r["loss"] for r in read_metrics(tmp_path / "part")[0]]
    assert b == a  # one row per step, the same losses


def test_eval_rows_have_accuracy_per_step_and_halting(tmp_path, sudoku4):
    cfg = TrainConfig.from_dict(MICRO).with_overrides(eval_every=6)
    eval_set = build_datasets(cfg.data.__class__(kind="sudoku", size=4, eval_count=24, pool_size=10,
                                                 pool_initial=10), 0)[1]
    train(cfg, sudoku4, tmp_path / "r", eval_set=eval_set)
    rows, _ = read_metrics(tmp_path / "r")
    evals = [r for r in rows if r["split"] == "eval"]
    assert [r["step"] for r in evals] == [6, 12]
    for r in evals:
        assert len(r["exact_accuracy_per_step"]) == 3
        assert r["exact_accuracy"] == pytest.approx(r["exact_accuracy_per_step"][-1], abs=1e-6)
        assert 0 <= r["halt_accuracy"] <= 1 and 1 <= r["mean_halt_step"] <= 3
        assert 0 <= r["accuracy"] <= 1 and r["count"] == 24
    train_rows = [r for r in rows if r["split"] == "train"]
    need = {"step", "epoch", "loss", "lm_loss", "q_halt_loss", "accuracy", "exact_accuracy", "q_halt_accuracy",
            "mean_steps", "lr", "samples_per_s", "eta_s", "time"}
    assert all(need <= set(r) for r in train_rows)


def test_evaluate_scores_a_perfect_answer_key():
    """A model is not needed to check the scoring: feed labels as inputs to a model trained to copy is overkill,
    so check the arithmetic on a model whose answers are known — the untrained model's are scored consistently."""
    cfg = TrainConfig.from_dict(MICRO)
    ds, ev = build_datasets(cfg.data.__class__(kind="sudoku", size=4, eval_count=16, pool_size=10, pool_initial=10),
                            0)
    from engine.model import TRM
    from trainers.loop import resolve_model_config

    model = TRM(resolve_model_config(cfg, ds))
    row = evaluate(model, ev, batch_size=5)
    assert row["count"] == 16 and len(row["exact_accuracy_per_step"]) == 3
    # the same numbers whatever the batch size
    assert evaluate(model, ev, batch_size=16)["exact_accuracy_per_step"] == row["exact_accuracy_per_step"]


def test_warmup_then_cosine_to_the_floor_like_the_reference():
    cfg = TrainConfig(steps=110, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1, lr=1.0)
    assert lr_at(1, 1.0, cfg) == pytest.approx(0.1)
    assert lr_at(10, 1.0, cfg) == pytest.approx(1.0)
    assert lr_at(60, 1.0, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(110, 1.0, cfg) == pytest.approx(0.1)
    const = TrainConfig(steps=110, warmup_steps=10, schedule="constant", lr=1.0)
    assert lr_at(5, 1.0, const) == pytest.approx(0.5) and lr_at(100, 1.0, const) == 1.0


def test_puzzle_embedding_trains_with_sign_sgd_on_used_rows_only(sudoku4):
    cfg = TrainConfig.from_dict(MICRO).with_overrides(
        model={**MICRO["model"], "puzzle_emb_ndim": 16, "puzzle_emb_len": 1, "num_puzzle_identifiers": 4},
        steps=2, warmup_steps=0, schedule="constant", puzzle_emb_lr=0.01, puzzle_emb_weight_decay=0.0)
    ds = MemoryDataset(sudoku4.inputs, sudoku4.labels, sudoku4.encoding,
                       puzzle_ids=torch.arange(len(sudoku4.inputs)) % 2, num_puzzle_identifiers=4)
    result = train(cfg, ds, None)
    w = result.model.puzzle_emb.weight.detach()
    assert torch.all(w[2:] == 0)  # rows 2 and 3 never appear in a batch: untouched
    moved = w[:2][w[:2] != 0].abs()
    assert moved.numel() > 0
    assert torch.all(torch.isclose(moved, torch.tensor(0.01)) | torch.isclose(moved, torch.tensor(0.02))
                     | torch.isclose(moved, torch.tensor(0.0)))  # sign steps of lr, not gradient-sized


def test_budget_stops_early_and_returns_the_model():
    cfg = TrainConfig.from_dict(MICRO).with_overrides(steps=10_000)
    result = train(cfg, sudoku4_dataset(6, 8), None, budget_s=1.0)
    assert 0 < result.step < 10_000 and result.state == "finished"


def test_budget_counts_cpu_seconds_so_waiting_does_not_use_it_up():
    """A match on a loaded machine: a process that waits for the CPU must not lose training to the wait."""
    cfg = TrainConfig.from_dict(MICRO).with_overrides(steps=6, checkpoint_every=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # every thread's CPU counts: with one, CPU seconds are at most the working wall seconds
    try:
        result = train(cfg, sudoku4_dataset(6, 8), None, budget_s=0.9, on_metrics=lambda row: time.sleep(0.3))
    finally:
        torch.set_num_threads(threads)
    rows = [r for r in result.history if r["split"] == "train"]
    assert result.step == 6 and rows[-1]["elapsed_s"] > 1.5  # a wall-clock budget would have stopped at step 3
    assert rows[-1]["cpu_s"] < rows[-1]["elapsed_s"] - 1.0  # the five sleeps before the last row never count


def test_budget_stops_once_the_process_has_used_that_much_cpu():
    def spin(row):  # CPU this process burns counts, wherever in the process it is spent
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass

    cfg = TrainConfig.from_dict(MICRO).with_overrides(steps=20, checkpoint_every=0)
    result = train(cfg, sudoku4_dataset(6, 8), None, budget_s=0.9, on_metrics=spin)
    assert 3 <= result.step <= 5 and result.state == "finished"
    assert result.last_train["cpu_s"] >= 0.9


def test_every_preset_loads_and_builds_its_model():
    from engine.model import TRM, count_parameters

    names = list_presets()
    assert {"tiny-sudoku4", "cpu-sudoku4", "cpu-sudoku6", "cpu-sudoku9", "cpu-maze9", "cpu-maze15"} <= set(names)
    for name in names:
        cfg = load_preset(name)
        assert cfg.preset == name
        kind = get_kind(cfg.data.kind)
        if kind.generates:  # a grid size of its own (ARC presets read task corpora)
            n = cfg.data.size
            from trainers.loop import resolve_model_config

            class Shape:
                vocab_size = kind.vocab_size(n)
                seq_len = n * n
                num_puzzle_identifiers = 1

            assert count_parameters(TRM(resolve_model_config(cfg, Shape()))) > 0


def test_saved_checkpoint_is_the_ema_model(tmp_path, sudoku4):
    cfg = TrainConfig.from_dict(MICRO)
    result = train(cfg, sudoku4, tmp_path / "r")
    loaded = load_checkpoint(latest_checkpoint(tmp_path / "r"))
    for p, q in zip(loaded.model.parameters(), result.ema_model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, q) for p, q in zip(loaded.model.parameters(), result.model.parameters(),
                                                     strict=True))


def test_adamw_matches_torch_adamw():
    from trainers.optim import AdamW

    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5, 3))
    b = torch.nn.Parameter(a.detach().clone())
    ours = AdamW([a], betas=(0.9, 0.95), weight_decay=0.1)
    ref = torch.optim.AdamW([b], lr=0.01, betas=(0.9, 0.95), weight_decay=0.1, eps=1e-8)
    for _ in range(5):
        g = torch.randn(5, 3)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step(0.01)
        ref.step()
    assert torch.allclose(a, b, atol=1e-6)
    # checkpoints written while the loop used torch.optim.AdamW still resume
    old = {f"0/{k}": v for k, v in ref.state_dict()["state"][0].items()}
    again = AdamW([torch.nn.Parameter(b.detach().clone())], betas=(0.9, 0.95), weight_decay=0.1)
    again.load_state_tensors(old)
    g = torch.randn(5, 3)
    again.params[0].grad, b.grad = g.clone(), g.clone()
    again.step(0.01)
    ref.step()
    assert torch.allclose(again.params[0], b, atol=1e-6)


def test_a_run_without_ema_checkpoints_and_resumes(tmp_path, sudoku4):
    cfg = TrainConfig.from_dict({**MICRO, "ema": None, "steps": 6})
    first = train(cfg, sudoku4, tmp_path / "run")
    assert first.state == "finished" and latest_checkpoint(tmp_path / "run").name == "step_6.safetensors"
    more = TrainConfig.from_dict({**MICRO, "ema": None, "steps": 8})
    resumed = train(more, sudoku4, tmp_path / "run", resume=True)
    assert resumed.step == 8 and latest_checkpoint(tmp_path / "run").name == "step_8.safetensors"


def test_frozen_weights_train_only_the_embedding_with_adamw_and_resume_exactly(tmp_path, sudoku4):
    """ARC adaptation's settings: the network frozen, AdamW on the puzzle-embedding table; its moments are saved, so a
    stopped and resumed run ends where the uninterrupted one does."""
    model = {**MICRO["model"], "puzzle_emb_ndim": 16, "puzzle_emb_len": 1, "num_puzzle_identifiers": 4}
    cfg = TrainConfig.from_dict({**MICRO, "model": model, "steps": 6, "schedule": "constant", "ema": None,
                                 "checkpoint_every": 0, "freeze_weights": True, "puzzle_emb_optimizer": "adamw"})
    ds = MemoryDataset(sudoku4.inputs, sudoku4.labels, sudoku4.encoding,
                       puzzle_ids=torch.arange(len(sudoku4.inputs)) % 2, num_puzzle_identifiers=4)
    whole = train(cfg, ds, tmp_path / "whole")
    asked = threading.Event()
    asked.set()  # before the first step: no step, the initial weights
    start = train(cfg, ds, None, stop_event=asked)
    assert start.step == 0 and start.state == "stopped"
    stop = threading.Event()
    part = train(cfg, ds, tmp_path / "part", stop_event=stop,
                 on_metrics=lambda row: stop.set() if row["step"] == 2 else None)
    assert part.state == "stopped" and part.step == 3
    resumed = train(cfg, ds, tmp_path / "part", resume=True)
    assert resumed.step == 6
    for (name, p), q, r in zip(whole.model.named_parameters(), resumed.model.parameters(),
                               start.model.parameters(), strict=True):
        assert torch.equal(p, q), name
        assert torch.equal(p, r) != (name == "puzzle_emb.weight"), name  # only the embedding moved
    assert torch.all(whole.model.puzzle_emb.weight[2:] == 0)  # rows no batch used: no gradient, no decay from 0


def test_frozen_relative_bias_stays_put_and_takes_the_fused_attention_kernel(monkeypatch):
    """`freeze: ["relative_bias"]` holds the maze bias table fixed while the rest learns, and with no gradient wanted
    for it attention runs through torch's fused kernel, never the written-out softmax that returns one."""
    import engine.model

    def written_out(*args):
        raise AssertionError("the written-out attention ran with a frozen bias")

    model = {"hidden_size": 16, "num_heads": 2, "expansion": 1.0, "L_layers": 1, "H_cycles": 2, "L_cycles": 1,
             "halt_max_steps": 2, "mixer": "attention", "pos_encodings": "relative2d", "puzzle_emb_ndim": 0}
    cfg = TrainConfig.from_dict({**MICRO, "model": model, "data": {"kind": "maze", "size": 5, "eval_count": 8},
                                 "steps": 3, "checkpoint_every": 0, "ema": None, "freeze": ["relative_bias"]})
    dataset, _ = build_datasets(cfg.data, cfg.seed)
    before_any_step = threading.Event()
    before_any_step.set()
    start = train(cfg, dataset, None, stop_event=before_any_step).model
    monkeypatch.setattr(engine.model, "attention_with_learnt_bias", written_out)
    trained = train(cfg, dataset, None).model
    for (name, p), q in zip(start.named_parameters(), trained.parameters(), strict=True):
        assert torch.equal(p, q) == name.startswith("relative_bias"), name
    with pytest.raises(ValueError, match="no parameter named relative_bais"):
        train(TrainConfig.from_dict({**cfg.to_dict(), "freeze": ["relative_bais"]}), dataset, None)
