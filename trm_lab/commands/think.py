"""`trm-lab solve/eval --trajectories K --max-steps N`: think harder (engine.think) from the command line.

`solve` streams each puzzle's chosen trajectory and says which trajectory won and why. `eval` measures accuracy
(judged by the rules: any valid Sudoku, any shortest maze path), mean halting step and time; with several values of
K or N (`--trajectories 1,4,16 --max-steps 16,64`, or `--sweep` for a default grid) it measures every pair and writes
the scaling curve (accuracy vs depth, accuracy vs width) as a PNG and a Markdown table. One run at the largest N per
K gives every smaller N: with early exit a puzzle's answer at N is valid exactly when some step up to N was.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SWEEP_TRAJECTORIES = (1, 4, 16, 64)
SWEEP_STEPS = (8, 16, 32, 64)


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or a list like 1,4,16, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers of at least 1, got {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    p.add_argument("--trajectories", type=int_list if sweep else int, metavar="K" + (",..." if sweep else ""),
                   help="think harder: K trajectories per puzzle (symmetric views of it), the answer picked by the "
                        "rules, then halting confidence, then vote" + ("; a list sweeps" if sweep else ""))
    p.add_argument("--max-steps", type=int_list if sweep else int, metavar="N" + (",..." if sweep else ""),
                   help="think harder: at most N supervision steps per trajectory, stopping at the first valid answer"
                        + ("; a list sweeps" if sweep else ""))
    p.add_argument("--noise", type=float, default=0.0,
                   help="think harder: std of noise on the initial state of every trajectory but the first")
    p.add_argument("--seed", type=int, default=0, help="think harder: picks the symmetric views and the noise")
    if sweep:
        p.add_argument("--sweep", action="store_true",
                       help=f"measure K in {','.join(map(str, SWEEP_TRAJECTORIES))} x N in "
                            f"{','.join(map(str, SWEEP_STEPS))} (unless given) and write the scaling curve")
        p.add_argument("--sweep-out", type=Path, default=Path("scaling"), metavar="PREFIX",
                       help="with several K or N: write PREFIX.png and PREFIX.md (default: scaling)")


def wanted(args: argparse.Namespace) -> bool:
    return args.trajectories is not None or args.max_steps is not None or getattr(args, "sweep", False)


def think_options(args: argparse.Namespace, loaded, trajectories: int, max_steps: int):
    from engine.think import ThinkOptions

    if args.noise < 0:
        raise ValueError("--noise must be at least 0")
    return ThinkOptions(trajectories=trajectories, max_steps=max_steps, noise=args.noise, seed=args.seed,
                        device=args.device, dtype=args.dtype)


def _check(kind, command: str) -> None:
    if not kind.thinks:
        raise ValueError(f"--trajectories and --max-steps work on Sudoku and mazes; {command} got {kind.name} puzzles "
                         "(ARC tasks vote over augmentations with `trm-lab adapt`)")


def default_steps(args: argparse.Namespace, loaded) -> int:
    return args.steps or loaded.config.halt_max_steps


# ---- solve --------------------------------------------------------------------------------------------------------
def run_solve(args: argparse.Namespace, kind, items: list, loaded) -> int:
    from engine.think import think_puzzle
    from trm_lab.commands.solve import render, verdict

    _check(kind, "solve")
    opts = think_options(args, loaded, args.trajectories or 1, args.max_steps or default_steps(args, loaded))
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    out = sys.stdout
    results = []
    for n, item in enumerate(items, 1):
        if not args.json:
            print(f"== {item.label} ({n}/{len(items)}) with {loaded.name}: {opts.trajectories} trajectories, up to "
                  f"{opts.max_steps} steps ==", file=out)
        halts: list[list[float]] = [[] for _ in range(opts.trajectories)]
        valid_at: list[int | None] = [None] * opts.trajectories
        last = None
        for step in think_puzzle(loaded, item.question, opts):
            last = step
            for k, (t, ok) in enumerate(zip(step.trajectories, step.valid, strict=True)):
                halts[k].append(round(t.halt_prob, 6))
                if ok and valid_at[k] is None:
                    valid_at[k] = step.index
            if not args.json:
                print(f"step {step.index:>2}  {sum(step.valid)} of {opts.trajectories} valid  leading: trajectory "
                      f"{step.chosen + 1} (halting {step.trajectories[step.chosen].halt_prob:.3f})", file=out)
        chosen, k = last.picked, last.picked_trajectory
        valid, correct = verdict(kind, item, chosen.grid)
        names = _view_names(kind, item.question, opts)
        if not args.json:
            print(render(kind, chosen.grid, chosen.confidence, chosen.changed, item.question, color), file=out)
            words = {True: "yes", False: "no", None: "unknown"}
            print(f"answer after {last.index} steps from trajectory {k + 1} ({names[k]}): "
                  f"{last.reason}. Valid {words[valid]}, correct {words[correct]}, {last.elapsed_s:.2f} s", file=out)
        results.append({"label": item.label, "kind": kind.name, "answer": kind.readable(chosen.grid), "valid": valid,
                        "correct": correct, "steps": last.index, "chosen": k, "reason": last.reason,
                        "seconds": round(last.elapsed_s, 4),
                        "trajectories": [{"view": names[k], "halt_prob": halts[k], "valid_at": valid_at[k]}
                                         for k in range(opts.trajectories)]})
    if args.json:
        json.dump({"file": str(args.file), "model": loaded.name, "kind": kind.name, "trajectories": opts.trajectories,
                   "max_steps": opts.max_steps, "noise": opts.noise, "puzzles": results}, out)
        out.write("\n")
    return 0


def _view_names(kind, grid: np.ndarray, opts) -> list[str]:
    return [v.name for v in kind.views(grid, opts.trajectories, np.random.default_rng(opts.seed))]


# ---- eval ---------------------------------------------------------------------------------------------------------
@dataclass
class Point:
    """Accuracy at one (K, N), judged by the rules. Time per puzzle over all puzzles (batched): wall seconds, and
    this process's CPU seconds, which with one torch thread are the wall time on an idle core."""

    trajectories: int
    max_steps: int
    accuracy: float
    exact_accuracy: float
    mean_halting_step: float
    seconds: float
    seconds_per_puzzle: float
    cpu_seconds_per_puzzle: float


def measure(loaded, items: list, trajectories: int, steps: list[int], args: argparse.Namespace) -> list[Point]:
    """Run K trajectories for max(steps) with early exit; read off every N in `steps`."""
    from engine.think import think_steps

    opts = think_options(args, loaded, trajectories, max(steps))
    n = len(items)
    first_valid = np.full(n, np.inf)
    exact_at = np.full(n, np.inf)  # first step the chosen answer equals the known answer
    batch = max(1, args.batch * 8 // trajectories)  # about the same number of rows per batch for any K
    # summed over batches: time to run every batch to step N (wall, CPU)
    per_step_time = np.zeros((max(steps) + 1, 2))
    for lo in range(0, n, batch):
        chunk = items[lo:lo + batch]
        started, reached = np.array([time.perf_counter(), time.process_time()]), 0
        batch_time = np.zeros_like(per_step_time)
        for out in think_steps(loaded, [i.question for i in chunk], opts):
            for p, step in out:
                i = lo + p
                if step.valid[step.chosen] and not np.isfinite(first_valid[i]):
                    first_valid[i] = step.index
                expected = chunk[p].expected
                if (expected is not None and not np.isfinite(exact_at[i]) and step.answer.shape == expected.shape
                        and np.array_equal(step.answer, expected)):
                    exact_at[i] = step.index
            reached = out[0][1].index
            batch_time[reached] = np.array([time.perf_counter(), time.process_time()]) - started
        batch_time[reached + 1:] = batch_time[reached]  # every puzzle stopped early: no more time
        per_step_time += batch_time
        print(f"eval: K={trajectories}: {min(n, lo + batch)}/{n} puzzles", file=sys.stderr)
    points = []
    for N in steps:
        stopped = np.minimum(first_valid, N)
        wall, cpu = (float(v) for v in per_step_time[N])
        points.append(Point(trajectories, N, float((first_valid <= N).mean()), float((exact_at <= N).mean()),
                            float(stopped.mean()), round(wall, 3), round(wall / n, 4), round(cpu / n, 4)))
    return points


def run_eval(args: argparse.Namespace, kind, items: list, loaded) -> int:
    _check(kind, "eval")
    sweep = getattr(args, "sweep", False)
    ks = args.trajectories or (list(SWEEP_TRAJECTORIES) if sweep else [1])
    ns = args.max_steps or (list(SWEEP_STEPS) if sweep else [default_steps(args, loaded)])
    points = [p for k in ks for p in measure(loaded, items, k, sorted(set(ns)), args)]
    report = {"file": str(args.file), "model": loaded.name, "kind": kind.name, "puzzles": len(items),
              "noise": args.noise,
              "seed": args.seed, "judged_by": "the rules (any valid answer)", "grid": [asdict(p) for p in points]}
    if len(points) == 1:
        report.update({k: v for k, v in asdict(points[0]).items()})
    else:
        prefix = args.sweep_out
        write_table(prefix.with_suffix(".md"), points, report)
        write_plot(prefix.with_suffix(".png"), points, f"{loaded.name} on {Path(args.file).name} "
                   f"({len(items)} puzzles)")
        report["table"], report["plot"] = str(prefix.with_suffix(".md")), str(prefix.with_suffix(".png"))
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"{len(items)} {kind.name} puzzles, model {loaded.name}, judged by the rules")
    print(table_text(points))
    if len(points) > 1:
        print(f"wrote {report['table']} and {report['plot']}")
    return 0


def table_text(points: list[Point]) -> str:
    """Markdown: one row per K, one column per N, accuracy and seconds per puzzle in each cell."""
    ks = sorted({p.trajectories for p in points})
    ns = sorted({p.max_steps for p in points})
    at = {(p.trajectories, p.max_steps): p for p in points}
    lines = ["| trajectories K \\ steps N | " + " | ".join(str(n) for n in ns) + " |",
             "|---|" + "---|" * len(ns)]
    for k in ks:
        cells = []
        for n in ns:
            p = at[(k, n)]
            cells.append(f"{p.accuracy:.1%} ({p.cpu_seconds_per_puzzle:.2f} s, {p.mean_halting_step:.1f} steps)")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(path: Path, points: list[Point], report: dict) -> None:
    from engine.puzzles.base import atomic_write_text

    text = (f"# Think harder: {report['model']} on {report['file']} ({report['puzzles']} puzzles)\n\n"
            "Accuracy judged by the rules (any valid answer), CPU seconds per puzzle (puzzles batched; with one torch "
            "thread, the wall time on an idle core) and mean "
            f"supervision steps run (a puzzle stops at its first valid answer). Noise {report['noise']:g}, "
            f"seed {report['seed']}.\n\n" + table_text(points) + "\n")
    atomic_write_text(path, text)


def write_plot(path: Path, points: list[Point], title: str) -> None:
    from trm_lab.scaling_plot import scaling_png

    scaling_png(path, points, title)
