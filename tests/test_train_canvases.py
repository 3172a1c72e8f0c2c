"""Batch streams per canvas (data.canvases): small mazes train on a small canvas with their own ACT carry, by the
same weights (the relative2d bias read from the one table), and a stopped run resumes both streams exactly."""

import threading
from dataclasses import asdict

import numpy as np
import pytest
import torch

from engine.architectures import build_model, config_from_dict
from engine.model import with_canvas
from engine.puzzles import maze
from trainers.checkpointing import read_train_checkpoint
from trainers.config import ConfigError, DataConfig, TrainConfig
from trainers.data import MazeDataset, build_datasets
from trainers.loop import train
from trainers.rundir import latest_checkpoint

DATA = DataConfig(kind="maze", size=11, maze_style="hard", eval_count=4, curriculum_start=5, canvases=[7, 11])
MODEL = {"hidden_size": 16, "num_heads": 2, "expansion": 1.0, "L_layers": 1, "H_cycles": 1, "L_cycles": 1,
         "halt_max_steps": 3, "mixer": "attention", "pos_encodings": "relative2d"}


def _extents(batch, canvas: int) -> list[int]:
    out = []
    for q, a in zip(batch.inputs, batch.labels, strict=True):
        grid, sol = (q - 1).view(canvas, canvas).numpy(), (a - 1).view(canvas, canvas).numpy()
        assert maze.is_valid_solution(grid.astype(np.int8), sol.astype(np.int8))
        rows, cols = np.nonzero(grid > 0)
        out.append(int(max(rows.max(), cols.max())) + 1)  # the open cells' extent: the maze's side, walls padding it
    return out


def test_batches_take_the_canvases_in_turn_each_with_the_sizes_above_the_last():
    ds = MazeDataset(DATA, seed=3)
    small, large = ds.batch(0, 16), ds.batch(1, 16)
    assert small.inputs.shape == (16, 49) and large.inputs.shape == (16, 121) and ds.batch(2, 4).inputs.shape[1] == 49
    small_sides, large_sides = _extents(small, 7), _extents(large, 11)
    assert min(small_sides) >= 5 and max(small_sides) <= 7 and 7 in small_sides
    assert min(large_sides) >= 8 and large_sides.count(11) >= 4  # about half at the canvas's own side


def test_canvases_must_ascend_to_the_model_size():
    base = asdict(DATA)
    for bad in ([11, 7], [7, 9], [], [7, 7, 11]):
        with pytest.raises(ConfigError, match="data.canvases"):
            TrainConfig(model=MODEL, data={**base, "canvases": bad})
    with pytest.raises(ConfigError, match="only generated mazes"):
        TrainConfig(model=MODEL, data={**base, "kind": "sudoku", "size": 11})
    with pytest.raises(ConfigError, match="relative2d"):
        TrainConfig(model={**MODEL, "pos_encodings": "rope"}, data=base)
    TrainConfig(model=MODEL, data=base)


def test_a_model_on_a_smaller_canvas_computes_what_its_cropped_copy_does():
    torch.manual_seed(0)
    model = build_model(config_from_dict("trm", {**MODEL, "vocab_size": 6, "seq_len": 121})).eval()
    with torch.no_grad():
        model.relative_bias.table.normal_()  # learnt-looking offsets, not the symmetric prior
    small = with_canvas(model, 7).eval()
    inputs = torch.randint(1, 6, (3, 49))
    y, z = model.initial_state(3, 49)
    assert y.shape == (3, 49, 16)
    with torch.no_grad():
        ours, theirs = model(model.embed(inputs), y, z), small(small.embed(inputs), y, z)
    assert torch.allclose(ours.logits, theirs.logits, atol=1e-6)
    with pytest.raises(ValueError, match="not a square canvas"):
        model.relative_bias(50)


def test_both_streams_train_checkpoint_and_resume_exactly(tmp_path):
    cfg = TrainConfig(model=MODEL, data=asdict(DATA), steps=6, batch_size=8, eval_every=0, checkpoint_every=3,
                      log_every=1, lr=1e-3, warmup_steps=0, threads=1, seed=5)
    ds, _ = build_datasets(cfg.data, seed=cfg.seed)
    whole = train(cfg, ds, tmp_path / "whole")
    _, state, _ = read_train_checkpoint(latest_checkpoint(tmp_path / "whole"))
    assert state["carry/inputs"].shape == (8, 121) and state["carry@49/inputs"].shape == (8, 49)
    stop = threading.Event()
    part = train(cfg, ds, tmp_path / "part", stop_event=stop,
                 on_metrics=lambda row: stop.set() if row["step"] == 2 else None)
    assert part.step == 3
    resumed = train(cfg, ds, tmp_path / "part", resume=True)
    assert resumed.step == 6
    for p, q in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(whole.model.relative_bias.table, build_model(whole.model.cfg).relative_bias.table)
