"""The trainer as a process: SIGTERM stops cleanly with a checkpoint, two gloo ranks equal one process, the CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from trainers.rundir import latest_checkpoint, read_metrics, read_status

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TINY = {
    "model": {"hidden_size": 16, "num_heads": 2, "expansion": 1.0, "L_layers": 1, "H_cycles": 2, "L_cycles": 1,
              "halt_max_steps": 3, "pos_encodings": "learned"},
    "data": {"kind": "sudoku", "size": 4, "clues": [6, 10], "pool_size": 64, "pool_initial": 64, "eval_count": 16,
             "prefetch": 2},
    "steps": 6, "batch_size": 8, "lr": 0.003, "warmup_steps": 2, "eval_every": 0, "checkpoint_every": 3,
    "log_every": 1, "threads": 1, "ema": 0.9, "grad_clip": None,
}


# Mazes on two canvases in turn (data.canvases): each rank keeps its slice of both streams' carries.
CANVAS_MAZES = {
    "model": {**TINY["model"], "mixer": "attention", "pos_encodings": "relative2d"},
    "data": {"kind": "maze", "size": 9, "maze_style": "hard", "canvases": [7, 9], "curriculum_start": 5,
             "eval_count": 4, "prefetch": 2},
}


def _config(tmp_path: Path, **changes) -> Path:
    cfg = json.loads(json.dumps(TINY))
    cfg.update(changes)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(cfg))
    return path


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env["XDG_CACHE_HOME"] = env.get("XDG_CACHE_HOME", "/tmp/trm-lab-test-cache")
    return env


def test_sigterm_finishes_the_step_checkpoints_and_exits_0(tmp_path):
    cfg = _config(tmp_path, steps=100_000, checkpoint_every=100_000)
    run = tmp_path / "run"
    proc = subprocess.Popen([PY, "-m", "trainers.run", str(cfg), "--out", str(run)], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while len(read_metrics(run)[0]) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "trainer produced no metrics"
            time.sleep(0.2)
        assert read_status(run)["state"] == "running"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    status = read_status(run)
    assert status["state"] == "stopped"
    ckpt = latest_checkpoint(run)
    assert ckpt is not None and ckpt.name == f"step_{status['step']}.safetensors"
    assert "stopped" in (run / "train.log").read_text()
    # and it resumes from there
    proc = subprocess.run([PY, "-m", "trainers.run", "--resume", str(run), "--steps", str(status["step"] + 2)],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert read_status(run)["state"] == "finished" and read_status(run)["step"] == status["step"] + 2


@pytest.mark.parametrize("changes", [{}, CANVAS_MAZES], ids=["sudoku", "maze-canvases"])
def test_two_gloo_ranks_match_one_process(tmp_path, changes):
    cfg = _config(tmp_path, **changes)
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([PY, "-m", "trainers.run", str(cfg), "--out", str(one)], cwd=ROOT, env=_env(), check=True,
                   capture_output=True, timeout=120)
    torchrun = [PY, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "0"]
    if sys.platform.startswith("linux"):
        torchrun = [PY, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    proc = subprocess.run([*torchrun, "-m", "trainers.run", str(cfg), "--out", str(two)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_file(latest_checkpoint(one)), load_file(latest_checkpoint(two))
    assert latest_checkpoint(two).name == "step_6.safetensors"
    raw = [k for k in a if k.startswith("train/raw/")]
    assert raw and set(a) == set(b)
    assert ("train/carry@49/inputs" in a) == bool(changes)  # both streams' carries, gathered from both ranks
    for k in raw + [k for k in a if "/" not in k]:  # raw weights, then the EMA model
        assert (a[k] - b[k]).abs().max() < 1e-5, k
    la = [r["loss"] for r in read_metrics(one)[0]]
    lb = [r["loss"] for r in read_metrics(two)[0]]
    assert la == pytest.approx(lb, rel=1e-5)
    assert not any((two / "checkpoints").glob(".*tmp"))


def test_cli_rejects_bad_config_with_a_message_naming_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": 5, "lr": }')
    proc = subprocess.run([PY, "-m", "trm_lab.cli", "train", str(bad), "--out", str(tmp_path / "r")], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "bad.json, line 1" in proc.stderr and "Traceback" not in proc.stderr
    unknown = _config(tmp_path, colour="red")
    proc = subprocess.run([PY, "-m", "trainers.run", str(unknown), "--out", str(tmp_path / "r")], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "tiny.json" in proc.stderr and "colour" in proc.stderr


def test_trm_lab_train_shows_progress_and_writes_the_run(tmp_path):
    cfg = _config(tmp_path, eval_every=3)
    run = tmp_path / "run"
    proc = subprocess.run([PY, "-m", "trm_lab.cli", "train", str(cfg), "--out", str(run)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "6/6" in proc.stderr and "samples/s" in proc.stderr and "ETA" in proc.stderr
    assert "eval step 3: exact" in proc.stderr
    assert proc.stdout == ""
    assert read_status(run)["state"] == "finished"
    assert json.loads((run / "config.json").read_text())["steps"] == 6
