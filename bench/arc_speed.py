"""ARC adaptation speed on large canvases: optimiser steps per CPU-second, the old batch of 32 against the default
(`trainers.arc_adapt.batch_for`), taken in turns on the same task and model; then where one step's time goes.

Run: `.venv/bin/python bench/arc_speed.py [--tasks 00dbd492,0607ce86,05a7bcf2] [--rounds 3] [--steps 3]`
(ARC-AGI-1 evaluation tasks with 21x21, 25x25 and 29x29 grids; canvases 22, 26 and 30; fresh model, one thread).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.puzzles import arc  # noqa: E402
from trainers import arc_adapt  # noqa: E402


def steps_per_cpu_s(adapted, opts, steps: int) -> float:
    start_steps, start = adapted.train_steps, time.process_time()
    arc_adapt.train(adapted, replace(opts, max_train_steps=adapted.train_steps + steps, budget_s=1e9))
    return (adapted.train_steps - start_steps) / (time.process_time() - start)


def where_time_goes(adapted, opts) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        arc_adapt.train(adapted, replace(opts, max_train_steps=adapted.train_steps + 1, budget_s=1e9))
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    print("  one step at batch 32, top operations by own CPU time:")
    for e in events[:8]:
        print(f"    {e.key:<52} {100 * e.self_cpu_time_total / total:5.1f}%")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="00dbd492,0607ce86,05a7bcf2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="optimiser steps per turn")
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tasks = arc.bundled_tasks("arc1", "eval")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"torch {torch.__version__}, 1 thread, load average {load}")
    for task_id in args.tasks.split(","):
        task = tasks[task_id]
        opts = arc_adapt.AdaptOptions(base=None, clock="cpu", threads=1, progress_every_s=1e9)
        old_opts = replace(opts, batch_size=32)
        old, new = arc_adapt.prepare(task, old_opts), arc_adapt.prepare(task, opts)
        canvas = new.data.canvas
        steps_per_cpu_s(old, old_opts, 1), steps_per_cpu_s(new, opts, 1)  # warm-up
        ratios, rates_old, rates_new = [], [], []
        for r in range(args.rounds):
            pair = ((old, old_opts), (new, opts)) if r % 2 == 0 else ((new, opts), (old, old_opts))
            rate = {id(a): steps_per_cpu_s(a, o, args.steps) for a, o in pair}
            rates_old.append(rate[id(old)])
            rates_new.append(rate[id(new)])
            ratios.append(rate[id(new)] / rate[id(old)])
        print(f"{task_id} (largest grid {arc_adapt.arc_data.task_max_dim(task)}, canvas {canvas}): batch 32 "
              f"{statistics.median(rates_old):.3f} steps/CPU-s, batch {arc_adapt.batch_for(canvas)} "
              f"{statistics.median(rates_new):.3f} steps/CPU-s: {statistics.median(ratios):.2f}x "
              f"[{min(ratios):.2f}-{max(ratios):.2f}]", flush=True)
        if not args.no_profile:
            where_time_goes(old, old_opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
