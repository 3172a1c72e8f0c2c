"""A maze model on Maze-Hard-style grids (random walls, long shortest paths) and on perfect mazes: the share solved by
the rules (any shortest S-G path), by grid size and by shortest-path band (and what the last step alone solves,
without a route kept from an earlier step), for each depth (supervision steps) and width (trajectories) asked for,
with the time per maze on this machine.

    .venv/bin/python bench/maze_hard.py MODEL [--sizes 12,20,30] [--count 100] [--steps 16,32] [--trajectories 1,8]
        [--perfect 15] [--seed 912345] [--files hard30.csv,...] [--json OUT]

Mazes come from `trm-lab generate maze --style hard --seed SEED` (a seed no training run uses: training draws
from SeedSequence([run seed, 5, batch, slot, attempt])), or from the given files. Path bands are thirds of the
range from the size's minimum to the longest path found.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.puzzles import maze  # noqa: E402
from engine.think import ThinkOptions, think_many  # noqa: E402


def ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def measure(loaded, mazes: list[maze.Maze], steps: int, width: int) -> dict:
    t = time.perf_counter()
    last: dict[int, object] = {}
    results = think_many(loaded, [m.grid for m in mazes], ThinkOptions(trajectories=width, max_steps=steps),
                         on_step=last.__setitem__)
    elapsed = time.perf_counter() - t
    right = [maze.is_valid_solution(m.grid, r.answer) for m, r in zip(mazes, results, strict=True)]
    # what the last step's pick alone solves, without a route kept from an earlier step (engine.think)
    final = [maze.is_valid_solution(m.grid, last[i].trajectories[last[i].chosen].grid) for i, m in enumerate(mazes)]
    lengths = np.array([maze.shortest_path_length(m.grid) for m in mazes])
    lo, hi = int(lengths.min()), int(lengths.max())
    edges = np.linspace(lo, hi + 1, 4).round().astype(int)
    bands = {}
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        idx = (lengths >= a) & (lengths < b)
        if idx.any():
            bands[f"{a}-{b - 1}"] = {"count": int(idx.sum()), "solved": float(np.mean(np.array(right)[idx]))}
    return {"steps": steps, "trajectories": width, "count": len(mazes), "solved": float(np.mean(right)),
            "solved_last_step": float(np.mean(final)),
            "mean_steps": float(np.mean([r.steps for r in results])), "s_per_maze": elapsed / len(mazes),
            "path_bands": bands}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--sizes", type=ints, default=[12, 20, 30])
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--steps", type=ints, default=[16, 32])
    p.add_argument("--trajectories", type=ints, default=[1])
    p.add_argument("--perfect", type=ints, default=[], help="also perfect (depth-first, no loop) mazes of these sizes")
    p.add_argument("--seed", type=int, default=912345)
    p.add_argument("--files", default="", help="comma-separated maze files to use instead of generating")
    p.add_argument("--json", type=Path, default=None, help="write the rows here too")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    loaded = load_checkpoint(args.model)
    sets: list[tuple[str, list[maze.Maze]]] = []
    if args.files:
        for f in args.files.split(","):
            sets.append((Path(f).name, maze.load(f)[: args.count]))
    else:
        for n in args.sizes:
            sets.append((f"hard {n}x{n}", maze.generate(args.count, seed=args.seed, size=n, style="hard")))
    for n in args.perfect:
        sets.append((f"perfect {n}x{n}", maze.generate(args.count, seed=args.seed, size=n, loops=0.0)))
    rows = []
    print(f"{args.model}: solved = any shortest path (held-out seed {args.seed})")
    print(f"{'set':<16} {'steps':>5} {'traj':>4} {'solved':>7} {'last step':>9} {'mean steps':>10} {'s/maze':>7}  "
          "by path length")
    for name, mazes in sets:
        for steps in args.steps:
            for width in args.trajectories:
                row = {"set": name, **measure(loaded, mazes, steps, width)}
                rows.append(row)
                bands = "  ".join(f"{k}: {v['solved']:.0%} ({v['count']})" for k, v in row["path_bands"].items())
                print(f"{name:<16} {steps:>5} {width:>4} {row['solved']:>7.1%} {row['solved_last_step']:>9.1%} "
                      f"{row['mean_steps']:>10.1f} "
                      f"{row['s_per_maze']:>7.2f}  {bands}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
