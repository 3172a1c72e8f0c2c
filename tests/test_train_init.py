"""Starting a run from other weights: fine-tuning, and growing a relative2d maze model to a larger canvas."""

import json
import subprocess

import pytest
import torch

from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.config import TRMConfig
from engine.model import TRM, local_prior
from engine.puzzles import maze, sudoku
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from tests.test_train_process import PY, ROOT, _env
from trainers.checkpointing import start_weights


def _maze_model(side: int, **kw) -> TRM:
    return TRM(TRMConfig(vocab_size=6, seq_len=side * side, hidden_size=16, num_heads=2, expansion=1.0,
                         pos_encodings="relative2d", **kw))


def test_growing_keeps_learnt_offsets_and_starts_new_ones_from_the_local_prior(tmp_path):
    small = _maze_model(5)
    with torch.no_grad():
        small.relative_bias.table.normal_()
    path = save_checkpoint(tmp_path / "small.safetensors", small, encoding=maze.encoding(5), training={})
    big = start_weights(path, _maze_model(7).cfg)
    grown = big.relative_bias.table.view(2, 13, 13)
    torch.testing.assert_close(grown[:, 2:11, 2:11], small.relative_bias.table.view(2, 9, 9))
    prior = local_prior(2, 7).view(2, 13, 13)
    torch.testing.assert_close(grown[:, 0], prior[:, 0])  # six rows up: no 5 x 5 maze has that offset
    torch.testing.assert_close(grown[:, :, 12], prior[:, :, 12])
    assert torch.equal(big.net.layers[0].self_attn.qkv_proj.weight, small.net.layers[0].self_attn.qkv_proj.weight)
    grown_path = save_checkpoint(tmp_path / "big.safetensors", big, encoding=maze.encoding(7), training={})
    back = start_weights(grown_path, small.cfg)  # and down again: the shared offsets, cropped
    assert torch.equal(back.relative_bias.table, small.relative_bias.table)


def test_other_canvases_need_relative2d_and_the_message_names_the_file(tmp_path):
    cfg = TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_heads=2, mixer="mlp", pos_encodings="none")
    path = save_checkpoint(tmp_path / "mlp.safetensors", TRM(cfg), encoding=sudoku.encoding(4), training={})
    with pytest.raises(CheckpointError, match=r"mlp\.safetensors.*only a relative2d model can change its canvas"):
        start_weights(path, TRMConfig(**{**cfg.__dict__, "seq_len": 36}))
    with pytest.raises(CheckpointError, match="different architecture"):
        start_weights(path, TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_heads=2))


MAZE_RUN = {
    "model": {"hidden_size": 16, "num_heads": 2, "expansion": 1.0, "L_layers": 1, "H_cycles": 2, "L_cycles": 1,
              "halt_max_steps": 2, "pos_encodings": "relative2d"},
    "data": {"kind": "maze", "size": 5, "eval_count": 4, "prefetch": 1, "maze_loops": 0.0},
    "steps": 2, "batch_size": 4, "lr": 0.01, "warmup_steps": 1, "eval_every": 0, "checkpoint_every": 2,
    "log_every": 1, "threads": 1, "ema": None,
}


def _train(tmp_path, name: str, **changes) -> subprocess.CompletedProcess:
    cfg = {**MAZE_RUN, **changes, "data": {**MAZE_RUN["data"], **changes.pop("data", {})}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return subprocess.run([PY, "-m", "trainers.run", str(path), "--out", str(tmp_path / name)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=120)


def test_a_run_started_from_a_smaller_mazes_run_carries_its_weights(tmp_path):
    assert _train(tmp_path, "small").returncode == 0
    # lr 0: the second run's weights are exactly the grown first ones
    proc = _train(tmp_path, "big", lr=0.0, data={"size": 7}, init_from=str(tmp_path / "small"))
    assert proc.returncode == 0, proc.stderr
    small = load_checkpoint(next((tmp_path / "small" / "checkpoints").glob("step_2.safetensors"))).model
    big = load_checkpoint(next((tmp_path / "big" / "checkpoints").glob("step_2.safetensors"))).model
    assert big.cfg.seq_len == 49
    assert torch.equal(big.net.layers[0].mlp.down_proj.weight, small.net.layers[0].mlp.down_proj.weight)
    torch.testing.assert_close(big.relative_bias.table.view(2, 13, 13)[:, 2:11, 2:11],
                               small.relative_bias.table.view(2, 9, 9))
    bad = _train(tmp_path, "bad", init_from=str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and "init_from" in bad.stderr and "nowhere" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_export_can_set_the_supervision_steps_the_model_runs(tmp_path):
    from trainers.checkpointing import export_model

    src = save_checkpoint(tmp_path / "m.safetensors", _maze_model(5), encoding=maze.encoding(5), training={})
    out = export_model(src, tmp_path / "out.safetensors", max_steps=4)
    loaded = load_checkpoint(out)
    assert loaded.config.halt_max_steps == 4 and _maze_model(5).cfg.halt_max_steps == 16
    assert torch.equal(loaded.model.relative_bias.table, load_checkpoint(src).model.relative_bias.table)
