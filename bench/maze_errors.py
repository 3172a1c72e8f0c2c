"""Where a maze model goes wrong, step by step: cells it marks as path that are not (typically dead ends) and path
cells it misses, per supervision step, on freshly generated held-out mazes.

    .venv/bin/python bench/maze_errors.py assets/models/maze15.safetensors [--loops 0.2] [--count 32] [--steps 16]
        [--size 11] [--canvas 21]

--size: mazes of this side (padded with walls to the model's canvas, as the app does). --canvas: run a relative2d
model on a larger canvas than it was trained on (its bias table grown as `init_from` does), to see how far the
learnt rule carries to mazes larger than any it has seen.

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
    args = p.parse_args()
    torch.set_num_threads(1)
    loaded = load_checkpoint(args.model)
    model, canvas = loaded.model, loaded.encoding.rows
    if args.canvas:
        canvas = args.canvas
        model = start_weights(Path(args.model), replace(loaded.config, seq_len=canvas * canvas)).eval()
    size = args.size or canvas
    mazes = [maze.generate_one(np.random.SeedSequence([args.seed, i]), size, loop_fraction=args.loops)
             for i in range(args.count)]
    questions = np.stack([maze.encode(maze.pad_to(m.grid, canvas)) for m in mazes])
    answers = np.stack([maze.encode(maze.pad_to(m.solution, canvas)) for m in mazes])
    on_path = answers != questions  # the cells the answer marks
    path_token = int(answers[on_path][0])
    print(f"{args.count} mazes {size}x{size} on a {canvas}x{canvas} canvas, loops {args.loops}, "
          f"mean path {on_path.sum(1).mean():.1f} cells, "
          f"open cells {(questions != questions[0, 0]).sum(1).mean():.1f}")
    print("step  exact  wrong/maze  false-path  missed-path  halt")
    options = SolveOptions(max_steps=args.steps, device="cpu", dtype="float32")
    for k, step in enumerate(solve_steps(model, questions, None, options), 1):
        tokens = step.tokens.numpy()
        wrong = tokens != answers
        false_path = (wrong & (tokens == path_token)).sum(1).mean()
        missed = (wrong & on_path).sum(1).mean()
        print(f"{k:4d}  {(wrong.sum(1) == 0).mean():5.1%}  {wrong.sum(1).mean():10.1f}  {false_path:10.1f}  "
              f"{missed:11.1f}  {step.halt_prob.numpy().mean():.2f}")


if __name__ == "__main__":
    main()
