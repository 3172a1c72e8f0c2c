"""Where a maze model goes wrong, step by step: cells it marks as path that are not (typically dead ends) and path
cells it misses, per supervision step, on freshly generated held-out mazes.

    .venv/bin/python bench/maze_errors.py assets/models/maze15.safetensors [--loops 0.2] [--count 32] [--steps 16]
        [--size 11] [--canvas 21] [--file hard30.csv]

--size: mazes of this side (padded with walls to the model's canvas, as the app does). --canvas: run a relative2d
model on a larger canvas than it was trained on (its bias table grown as `init_from` does), to see how far the
learnt rule carries to mazes larger than any it has seen.

--file: mazes from a file instead (e.g. Maze-Hard-style grids from `trm-lab generate maze --style hard`). Where
several routes tie, a cell counts as right when it lies on *some* shortest path: "on-shortest" counts the marked
cells that do, "off-shortest" those that lie on none (for a maze with one route these are the false path cells).

A model that only copies the maze and marks every open cell shows many false path cells, flat over the steps; one
that has learnt to remove dead ends shows them falling step by step.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/engine.py

from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.inference import SolveOptions, solve_steps  # noqa: E402
from engine.puzzles import maze  # noqa: E402
from trainers.checkpointing import start_weights  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--loops", type=float, default=0.2, help="loop fraction of the generated mazes (0: perfect)")
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--seed", type=int, default=99)
    p.add_argument("--size", type=int, default=None, help="maze side (default: the model's canvas)")
    p.add_argument("--canvas", type=int, default=None, help="grow a relative2d model to this canvas first")
    p.add_argument("--file", default=None, help="mazes from this file (the first --count) instead of generating")
    args = p.parse_args()
    torch.set_num_threads(1)
    loaded = load_checkpoint(args.model)
    model, canvas = loaded.model, loaded.encoding.rows
    if args.canvas:
        canvas = args.canvas
        model = start_weights(Path(args.model), replace(loaded.config, seq_len=canvas * canvas)).eval()
    if args.file:
        mazes = maze.load(args.file)[: args.count]
        size = mazes[0].grid.shape[0]
    else:
        size = args.size or canvas
        mazes = [maze.generate_one(np.random.SeedSequence([args.seed, i]), size, loop_fraction=args.loops)
                 for i in range(args.count)]
    shortest = np.stack([maze.pad_to(on_route(m.grid), canvas).reshape(-1) == 1 for m in mazes])
    questions = np.stack([maze.encode(maze.pad_to(m.grid, canvas)) for m in mazes])
    answers = np.stack([maze.encode(maze.pad_to(m.solution, canvas)) for m in mazes])
    on_path = answers != questions  # the cells the answer marks
    path_token = int(answers[on_path][0])
    source = args.file or f"generated, loops {args.loops}"
    print(f"{len(mazes)} mazes {size}x{size} on a {canvas}x{canvas} canvas ({source}), "
          f"mean path {on_path.sum(1).mean():.1f} cells, "
          f"open cells {(questions != questions[0, 0]).sum(1).mean():.1f}")
    print("step  exact  valid  wrong/maze  false-path  missed-path  on-shortest  off-shortest  halt")
    options = SolveOptions(max_steps=args.steps, device="cpu", dtype="float32")
    for k, step in enumerate(solve_steps(model, questions, None, options), 1):
        tokens = step.tokens.numpy()
        wrong = tokens != answers
        false_path = (wrong & (tokens == path_token)).sum(1).mean()
        missed = (wrong & on_path).sum(1).mean()
        marked = tokens == path_token
        valid = np.mean([maze.is_valid_solution(m.grid, maze.decode(t, canvas)[:size, :size])
                         for m, t in zip(mazes, tokens, strict=True)])
        print(f"{k:4d}  {(wrong.sum(1) == 0).mean():5.1%}  {valid:5.1%}  {wrong.sum(1).mean():10.1f}  "
              f"{false_path:10.1f}  {missed:11.1f}  {(marked & shortest).sum(1).mean():11.1f}  "
              f"{(marked & ~shortest).sum(1).mean():12.1f}  {step.halt_prob.numpy().mean():.2f}")


def on_route(grid: np.ndarray) -> np.ndarray:
    """1 on the open cells of some shortest S-G route (as int8, so it pads like a grid)."""
    cells, _ = maze.on_shortest_route(grid)
    return (cells & (grid == maze.OPEN)).astype(np.int8)


if __name__ == "__main__":
    main()
