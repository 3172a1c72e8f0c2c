"""The training loop trains HRM when the config names it (`model.arch`), with the reference's halting and Q target."""

from __future__ import annotations

from engine.checkpoint import load_checkpoint, read_metadata
from engine.hrm import HRM
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from trainers.data import build_datasets
from trainers.loop import train
from trainers.presets import load_preset
from trainers.rundir import latest_checkpoint


def test_tiny_hrm_preset_learns_4x4_sudoku_far_above_chance():
    cfg = load_preset("tiny-hrm-sudoku4")
    assert cfg.model["arch"] == "hrm"
    dataset, eval_set = build_datasets(cfg.data, cfg.seed)
    result = train(cfg, dataset, None, eval_set=eval_set)
    assert isinstance(result.model, HRM) and result.state == "finished"
    ev = result.last_eval
    # chance of a whole 4x4 grid with 6-10 blanks right is < 1e-3; copying the givens alone gives ~60% of cells
    assert ev["exact_accuracy"] > 0.3, ev
    assert ev["accuracy"] > 0.85, ev


def test_an_hrm_run_writes_hrm_checkpoints(tmp_path):
    cfg = load_preset("tiny-hrm-sudoku4").with_overrides(steps=3, eval_every=0, checkpoint_every=3, log_every=1)
    dataset, _ = build_datasets(cfg.data, cfg.seed)
    train(cfg, dataset, tmp_path / "run")
    path = latest_checkpoint(tmp_path / "run")
    assert read_metadata(path)["arch"] == "hrm"
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, HRM) and loaded.config.H_layers == 1
