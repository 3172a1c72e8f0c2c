"""Run-directory readers: torn metrics lines, partial and corrupt checkpoints are never reported as usable."""

import json

import pytest
import torch
from train_support import sudoku4_dataset

from engine.checkpoint import load_checkpoint
from trainers.config import TrainConfig
from trainers.loop import train
from trainers.rundir import RunWriter, checkpoint_is_complete, latest_checkpoint, read_metrics, read_status


def _tiny_run(tmp_path, tiny_dataset, steps=4, every=2):
    cfg = TrainConfig.from_dict({
        "model": {"hidden_size": 16, "num_heads": 2, "expansion": 1.0, "L_layers": 1, "H_cycles": 1, "L_cycles": 1,
                  "halt_max_steps": 2, "pos_encodings": "learned"},
        "data": {"kind": "sudoku", "size": 4}, "steps": steps, "batch_size": 8, "eval_every": 0,
        "checkpoint_every": every, "log_every": 1, "threads": 1, "keep_checkpoints": 5})
    run = tmp_path / "run"
    train(cfg, tiny_dataset, run)
    return run


def test_latest_skips_truncated_and_garbage_checkpoints(tmp_path, tiny_dataset):
    run = _tiny_run(tmp_path, tiny_dataset)
    ck = run / "checkpoints"
    assert latest_checkpoint(run) == ck / "step_4.safetensors"
    # A writer killed mid-way leaves a truncated newer file, and latest.json might even name it.
    data = (ck / "step_4.safetensors").read_bytes()
    (ck / "step_6.safetensors").write_bytes(data[: len(data) // 2])
    (ck / "step_8.safetensors").write_bytes(b"\x00" * 100)
    (ck / "latest.json").write_text(json.dumps({"file": "step_6.safetensors", "step": 6}))
    assert not checkpoint_is_complete(ck / "step_6.safetensors")
    assert latest_checkpoint(run) == ck / "step_4.safetensors"
    # Corrupt the intact one too: the older complete checkpoint is chosen.
    (ck / "step_4.safetensors").write_bytes(data[:-1])
    assert latest_checkpoint(run) == ck / "step_2.safetensors"
    load_checkpoint(latest_checkpoint(run))  # and it really loads


def test_resume_uses_newest_complete_checkpoint(tmp_path, tiny_dataset):
    run = _tiny_run(tmp_path, tiny_dataset)
    ck = run / "checkpoints"
    data = (ck / "step_4.safetensors").read_bytes()
    (ck / "step_4.safetensors").write_bytes(data[: len(data) - 10])
    cfg = TrainConfig.load(run / "config.json").with_overrides(steps=6)
    result = train(cfg, tiny_dataset, run, resume=True)
    raw = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in raw if r["split"] == "train"] == [1, 2, 3, 4, 3, 4, 5, 6]  # resumed from step 2
    rows, _ = read_metrics(run)  # read as a whole: one row per step, the resumed run's
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r for r in rows if r["split"] == "train"][2:] == [r for r in raw if r["split"] == "train"][4:]
    assert result.step == 6 and read_status(run)["state"] == "finished"


def test_read_metrics_skips_a_torn_last_line_and_pages(tmp_path):
    w = RunWriter(tmp_path)
    for i in range(3):
        w.append_metrics({"step": i})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "lo')  # being written right now
    rows, nxt = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [0, 1, 2] and nxt == 3
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('ss": 1}\n')
    rows, nxt = read_metrics(tmp_path, nxt)
    assert rows == [{"step": 3, "loss": 1}] and nxt == 4


def test_status_is_replaced_atomically_with_required_fields(tmp_path):
    w = RunWriter(tmp_path)
    w.set_status("running", step=3, total_steps=10)
    st = read_status(tmp_path)
    assert {"state", "step", "total_steps", "pid", "host", "started", "updated", "message"} <= set(st)
    assert st["state"] == "running" and st["step"] == 3
    assert not list(tmp_path.glob(".*tmp"))
    assert read_status(tmp_path / "nothing") is None


def test_checkpoint_holds_ema_model_and_training_metadata(tmp_path, tiny_dataset):
    run = _tiny_run(tmp_path, tiny_dataset)
    loaded = load_checkpoint(latest_checkpoint(run))
    assert loaded.encoding.kind == "sudoku" and loaded.config.seq_len == 16
    assert loaded.training["steps"] == 4 and loaded.training["batch_size"] == 8
    assert isinstance(loaded.model, torch.nn.Module)


@pytest.fixture(scope="module")
def tiny_dataset():
    """32 generated 4x4 Sudokus in memory."""
    return sudoku4_dataset(99, 32)


def test_export_keeps_only_the_model_and_training_time_spans_resumes(tmp_path, tiny_dataset):
    from safetensors.torch import load_file

    from trainers.bundle import training_time_s
    from trainers.checkpointing import export_model

    run = _tiny_run(tmp_path, tiny_dataset)
    src = latest_checkpoint(run)
    dst = export_model(src, tmp_path / "m.safetensors", training_update={"preset": "x"})
    tensors = load_file(dst)
    assert tensors and not any("/" in k for k in tensors)
    assert dst.stat().st_size < src.stat().st_size
    loaded = load_checkpoint(dst)
    assert loaded.training["preset"] == "x" and loaded.training["steps"] == 4
    w = RunWriter(tmp_path / "segments")
    for e in (1.0, 2.0, 0.5, 3.0):  # two segments: 2 s, then 3 s after a resume
        w.append_metrics({"split": "train", "elapsed_s": e})
    assert training_time_s(tmp_path / "segments") == 5.0
