"""Training throughput on this machine, in puzzle-supervision-steps per second (one optimizer step of the carried
batch advances every slot by one supervision step), for the bundled CPU presets and the paper's Sudoku config at
batch 64, next to the matmul peak measured in the same run. It runs the real training loop (`trainers.loop.train`)
on in-memory random puzzles of the right shape (speed does not depend on the content).

Run: `.venv/bin/python bench/train.py [--threads N] [--presets a,b]` (2-3 minutes on 2 idle cores; the paper config
alone takes one to two minutes per step at batch 64).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.vs_reference import random_dataset  # noqa: E402
from engine.model import TRM, count_parameters  # noqa: E402
from trainers.loop import resolve_model_config, train  # noqa: E402
from trainers.presets import load_preset  # noqa: E402

DEFAULT = ["cpu-sudoku4", "cpu-sudoku6", "cpu-sudoku9", "cpu-maze15", "paper-sudoku-extreme"]
# Steps timed after the first (which compiles when the preset asks; bench/vs_reference.py compares side by side).
TIMED_STEPS = {"cpu-sudoku9": 3, "cpu-maze15": 2, "paper-sudoku-extreme": 0}  # 0: one step, warm-up included


def matmul_peak(n: int = 1024, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def measure(name: str, batch: int, timed: int) -> dict:
    cfg = load_preset(name).with_overrides(batch_size=batch, steps=max(1, timed + 1), eval_every=0, log_every=1,
                                           checkpoint_every=10**9, threads=None, device="cpu")
    ds = random_dataset(cfg, ROOT)
    result = train(cfg, ds, None, handle_signals=False)
    rows = [r for r in result.history if r["split"] == "train"]
    rows = rows[1:] if len(rows) > 1 else rows  # the first step warms up
    rate = statistics.median(r["samples_per_s"] for r in rows)
    model = TRM(resolve_model_config(cfg, ds))
    return {"preset": name, "batch": batch, "params": count_parameters(model), "steps_timed": len(rows),
            "puzzle_steps_per_s": rate, "ms_per_step": 1000 * batch / rate}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1, as the CPU presets train; 0 = torch's choice)")
    ap.add_argument("--presets", default=",".join(DEFAULT))
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    peak = matmul_peak()
    print(f"matmul peak (1024^3 float32): {peak:.1f} GFLOP/s")
    print(f"{'preset':<24}{'params':>10}{'batch':>7}{'ms/step':>10}{'puzzle-steps/s':>16}")
    for name in args.presets.split(","):
        r = measure(name, args.batch, TIMED_STEPS.get(name, 4))
        print(f"{r['preset']:<24}{r['params']:>10,}{r['batch']:>7}{r['ms_per_step']:>10.0f}"
              f"{r['puzzle_steps_per_s']:>16.1f}", flush=True)
    print(f"matmul peak again: {matmul_peak():.1f} GFLOP/s (a drop means other work shares the CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
