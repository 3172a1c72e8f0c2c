"""Where a training step's time goes: torch.profiler over steps of the real training loop (`trainers.loop.train`:
forward, loss, backward, optimiser, EMA) of a preset, after warm-up steps (the first compiles), one thread.

    bench/train_profile.py cpu-sudoku9 [--batch 64] [--warmup 2] [--steps 2] [--set micro_batch=16] [--rows 25]

Prints the CPU seconds per profiled step, the share of matrix products (aten mm/bmm/addmm/baddbmm, flash attention)
and of the compiled graphs' own (fused elementwise) code, then the profiler's table by self CPU time. Data as in
bench/vs_reference.py: generated mazes for maze presets, random puzzles of the right shape otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.vs_reference import MATMUL, loadavg, training_dataset  # noqa: E402
from trainers.loop import train  # noqa: E402
from trainers.presets import load_preset  # noqa: E402
from trainers.run import apply_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("preset")
    ap.add_argument("--batch", type=int, help="batch size (default: the preset's)")
    ap.add_argument("--warmup", type=int, default=2, help="steps before profiling (the first compiles)")
    ap.add_argument("--steps", type=int, default=2, help="profiled steps")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training setting (JSON value)")
    ap.add_argument("--rows", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(1)
    preset = load_preset(args.preset)
    settings = args.set  # dotted keys reach into sections, as `trm-lab train --set data.size=30` does
    cfg = apply_overrides(preset, args.set).with_overrides(
        batch_size=args.batch or preset.batch_size, steps=args.warmup + args.steps, eval_every=0, log_every=1,
        checkpoint_every=10**9, threads=1, device="cpu")
    prof = profile(activities=[ProfilerActivity.CPU])
    cpu = {}

    def on_row(row: dict) -> None:  # called after every step; the profiled window is steps warmup+1 .. warmup+steps
        if row.get("split") != "train":
            return
        if row["step"] == args.warmup:
            cpu["start"] = time.process_time()
            prof.start()
        elif row["step"] == args.warmup + args.steps:
            prof.stop()
            cpu["per_step"] = (time.process_time() - cpu["start"]) / args.steps

    train(cfg, training_dataset(cfg, ROOT), None, on_metrics=on_row, handle_signals=False)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL)
    graphs = sum(e.self_cpu_time_total for e in events if e.key.startswith("## Call CompiledFxGraph"))
    print(f"{args.preset} batch {cfg.batch_size} compile {cfg.compile} {settings or ''}: "
          f"{cpu['per_step']:.3f} CPU-s/step (profiler on), load {loadavg()}")
    print(f"matrix products {100 * matmul / total:.1f}% of self CPU time, compiled graphs' own code "
          f"{100 * graphs / total:.1f}%, the rest {100 * (total - matmul - graphs) / total:.1f}%")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
