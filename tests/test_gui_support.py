"""Shared fixtures of the GUI tests: an isolated settings/model folder and small real checkpoints.

The checkpoints are genuine TRM models (random weights, tiny configs) saved with `engine.checkpoint.save_checkpoint`
into the user's models folder, so the window finds them through `engine.registry` as a user would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import TRMConfig
from engine.model import TRM
from engine.puzzles import arc, maze, sudoku

SUDOKU_LINE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"


def make_checkpoint(path: Path, encoding, hidden: int = 16, seed: int = 0, layers: int = 1) -> Path:
    torch.manual_seed(seed)
    cfg = TRMConfig(vocab_size=encoding.vocab_size, seq_len=encoding.seq_len, hidden_size=hidden, num_heads=2,
                    expansion=2.0, L_layers=layers, H_cycles=2, L_cycles=2, halt_max_steps=16,
                    pos_encodings="rope", forward_dtype="float32")
    model = TRM(cfg)
    with torch.no_grad():  # a halting head that moves, so the plot has a curve
        model.q_head.bias.fill_(0.0)
        model.q_head.weight.normal_(0, 0.5)
    save_checkpoint(path, model, encoding=encoding,
                    training={"preset": "test", "dataset": "none", "steps": 0, "date": "2026-01-01"})
    path.with_suffix(".json").write_text(json.dumps({"name": path.stem, "note": "test model"}))
    return path


@pytest.fixture
def lab_env(tmp_path, monkeypatch):
    """Settings, recent files and user models in a temp folder; returns the user models folder."""
    monkeypatch.setenv("TRM_LAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    models = tmp_path / "data" / "trm-lab" / "models"
    models.mkdir(parents=True)
    import engine.registry

    (tmp_path / "bundled").mkdir()
    monkeypatch.setattr(engine.registry, "BUNDLED_DIR", tmp_path / "bundled")  # only the test's own models
    from trm_lab.panels import solve

    monkeypatch.setattr(solve, "_models_cache", None)
    monkeypatch.setattr(solve, "_trained_models", [])  # the Training tab's checkpoints of another test
    return models


@pytest.fixture
def models(lab_env):
    """Tiny Sudoku 9x9, maze 10x10 and ARC 30x30 checkpoints in the user models folder."""
    return {
        "sudoku": make_checkpoint(lab_env / "tiny-sudoku9.safetensors", sudoku.encoding(9), hidden=16),
        "maze": make_checkpoint(lab_env / "tiny-maze10.safetensors", maze.encoding(10), hidden=16),
        "arc": make_checkpoint(lab_env / "tiny-arc.safetensors", arc.encoding(30), hidden=16),
    }


@pytest.fixture
def dialogs(monkeypatch):
    """Record warning dialogs instead of blocking on them (a test that expects one asserts on the list)."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]) or QMessageBox.StandardButton.Ok)
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]) or QMessageBox.StandardButton.Ok)
    return shown


@pytest.fixture
def window(qtbot, lab_env, models, dialogs):
    from trm_lab import theme
    from trm_lab.app import make_app
    from trm_lab.main_window import MainWindow
    from trm_lab.settings import Settings
    from trm_lab.workers import wait_for_workers

    theme.apply(make_app(), "light")
    w = MainWindow(Settings(), load_training=False)
    w.show()
    with qtbot.waitSignal(w.modelsListed, timeout=30000):
        pass
    yield w
    for v in w.views():
        v.solve.shutdown()
        v.compare.shutdown()
        v.doc.mark_saved()  # no prompts while the fixture tears the window down
    wait_for_workers()
    w.close()
    w.deleteLater()
    qtbot.wait(1)


def relist_models(qtbot, window) -> None:
    """Re-read the model folders (the test just saved a checkpoint there) and wait until the pickers list them."""
    window.refresh_models()
    qtbot.waitSignal(window.modelsListed, timeout=30000).wait()


def pick_model(panel, path: Path) -> None:
    idx = panel.model_box.findData(str(path))
    assert idx >= 0, [panel.model_box.itemText(i) for i in range(panel.model_box.count())]
    panel.model_box.setCurrentIndex(idx)


def solve_and_wait(qtbot, panel, timeout: int = 60000) -> None:
    with qtbot.waitSignal(panel.sessionStarted, timeout=timeout):
        panel.solve()
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.state != "running", timeout=timeout)


def grid_of(line: str) -> np.ndarray:
    return sudoku.parse(line).givens


def wait_async(qtbot, predicate, timeout: int = 30000) -> None:
    qtbot.waitUntil(predicate, timeout=timeout)


def now() -> float:
    return time.perf_counter()
