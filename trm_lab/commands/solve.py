"""`trm-lab solve FILE` (every step of every puzzle) and `trm-lab eval FILE` (accuracy over a whole file).

Both read Sudoku (lines, grids, CSV), maze (text grids, CSV) or ARC task (JSON) files, pick the bundled model for
the puzzle's kind and size unless `--model` names one, and run the engine's step iterator. `--json` puts the
results on stdout; progress and human text go to stderr (solve's grids go to stdout when not `--json`).
`solve --model A --model B` compares two models (TRM and HRM, or any two that fit): both answers step by step in
lockstep, the cells where they differ, each verdict and time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from trm_lab.commands import think


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def verdict(kind, item, answer: np.ndarray) -> tuple[bool | None, bool | None]:
    """(valid, correct): the kind's rules and whether the answer is right (None: cannot tell)."""
    valid = kind.is_valid(item.question, answer) if kind.has_rules else None
    return valid, kind.correct(item.question, answer, item.expected)


def load_models(args: argparse.Namespace, kind, items: list) -> list:
    """The models named by --model (one or two), else the default model for the puzzles' kind and size."""
    from engine.checkpoint import load_checkpoint
    from engine.registry import default_model, resolve_model

    names = args.model or []
    if len(names) > args.max_models:
        raise CommandError(f"{args.command} takes at most {args.max_models} --model")
    if names:
        models = []
        for name in names:
            loaded = load_checkpoint(resolve_model(name))
            if loaded.encoding.kind != kind.name:
                raise CommandError(f"model {name} solves {loaded.encoding.kind} puzzles, {args.file} holds "
                                   f"{kind.name}")
            loaded.name = loaded.name or Path(name).stem
            models.append(loaded)
        if len(models) == 2 and models[0].name == models[1].name:
            models[1].name += " (2)"
        return models
    shape = tuple(int(n) for n in np.max([i.question.shape for i in items], axis=0)) if items else None
    styles = {kind.style(i.question) for i in items}
    entry = default_model(kind.name, shape, style=styles.pop() if len(styles) == 1 else None)
    if entry is None:
        size = f"{shape[0]}x{shape[1]} " if shape else ""
        raise CommandError(f"no bundled or user model for {size}{kind.name}; pass --model (`trm-lab models` lists "
                           "them)")
    loaded = load_checkpoint(entry.path)
    loaded.name = entry.name
    return [loaded]


def prepare(args: argparse.Namespace):
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    from engine.inference import GridCodec
    from engine.puzzles.kind import detect_file

    kind = detect_file(path)
    items = kind.items(path)
    if not items:
        raise CommandError(f"{path}: no puzzles in the file")
    models = load_models(args, kind, items)
    for loaded in models:
        for item in items:  # every puzzle must fit every model before any output
            GridCodec(loaded.fitted(*item.question.shape).encoding, item.question)
    return kind, items, models


def options(args: argparse.Namespace, loaded, halt_threshold=None):
    from engine.inference import SolveOptions

    steps = args.steps if args.steps is not None else loaded.config.halt_max_steps
    if steps < 1:
        raise CommandError("--steps must be at least 1")
    return SolveOptions(max_steps=steps, halt_threshold=halt_threshold, device=args.device, dtype=args.dtype)


# ---- drawing grids ------------------------------------------------------------------------------------------------
ARC_BG = (0, 21, 160, 34, 226, 244, 201, 208, 51, 88)  # ANSI-256 approximations of the ARC palette


def render(kind, grid: np.ndarray, confidence: np.ndarray, changed: np.ndarray, question: np.ndarray,
           color: bool) -> str:
    """Text picture of a grid; with colour, predicted cells are green/yellow/red by confidence, changed ones bold,
    cells the puzzle fixes dim (an ARC cell on its palette colour)."""
    fixed = (kind.given_mask(question) & (grid == question) if grid.shape == question.shape
             else np.zeros(grid.shape, bool))

    def paint(text: str, r: int, c: int) -> str:
        if not color:
            return text
        if not kind.has_rules:
            return f"\x1b[48;5;{ARC_BG[int(grid[r, c])]}m{text}\x1b[0m"
        if fixed[r, c]:
            return f"\x1b[2m{text}\x1b[0m"
        p = float(confidence[r, c])
        code = "32" if p >= 0.9 else "33" if p >= 0.5 else "31"
        return f"\x1b[{'1;' if changed[r, c] else ''}{code}m{text}\x1b[0m"

    return "\n".join(kind.cell_separator.join(paint(kind.cell_text(int(grid[r, c])), r, c)
                                               for c in range(grid.shape[1])) for r in range(grid.shape[0]))


# ---- solve --------------------------------------------------------------------------------------------------------
def run_solve(args: argparse.Namespace) -> int:
    kind, items, models = prepare(args)  # before importing torch: a bad file is reported at once
    if len(models) == 2:
        if think.wanted(args):
            raise CommandError("--trajectories / --max-steps solve with one model; compare two without them")
        return run_compare(args, kind, items, models)
    loaded = models[0]
    if think.wanted(args):
        return think.run_solve(args, kind, items, loaded)
    from engine.inference import solve_puzzle

    opts = options(args, loaded, args.halt_threshold)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    out = sys.stdout
    results = []
    unsolvable = 0
    for n, item in enumerate(items, 1):
        reason = kind.no_solution(item.question)
        unsolvable += reason is not None
        if not args.json:
            print(f"== {item.label} ({n}/{len(items)}) with {loaded.name} ==", file=out)
            if reason:
                print(f"this puzzle has no solution: {reason}", file=out)
        steps = []
        last = None
        for step in solve_puzzle(loaded, item.question, opts):
            last = step
            steps.append({"step": step.index, "halt_prob": round(step.halt_prob, 6), "halted": step.halted,
                          "changed": int(step.changed.sum()), "elapsed_s": round(step.elapsed_s, 4),
                          "grid": kind.readable(step.grid)})
            if not args.json:
                print(f"step {step.index:>2}  halting probability {step.halt_prob:.3f}  "
                      f"changed {int(step.changed.sum())} cells", file=out)
                print(render(kind, step.grid, step.confidence, step.changed, item.question, color), file=out)
        valid, correct = verdict(kind, item, last.grid)
        if reason:
            valid = correct = False
        first_halt = next((s["step"] for s in steps if s["halt_prob"] > 0.5), None)
        result = {"label": item.label, "kind": kind.name, "steps": steps, "answer": kind.readable(last.grid),
                  "valid": valid, "correct": correct, "halting_step": first_halt,
                  "seconds": round(last.elapsed_s, 4), "solvable": reason is None, "no_solution": reason}
        if result["answer"] != last.grid.tolist():  # cells shown as characters (a maze): the codes too
            result["answer_codes"] = last.grid.tolist()
        results.append(result)
        if not args.json:
            words = {True: "yes", False: "no", None: "unknown"}
            if reason:
                print(f"answer after {last.index} steps: no solution exists, so it cannot be right "
                      f"({last.elapsed_s:.2f} s)", file=out)
            else:
                print(f"answer after {last.index} steps: valid {words[valid]}, correct {words[correct]}, "
                      f"{last.elapsed_s:.2f} s", file=out)
    if args.json:
        json.dump({"file": str(args.file), "model": loaded.name, "kind": kind.name, "puzzles": results}, out)
        out.write("\n")
    if unsolvable:
        print(f"trm-lab solve: {unsolvable} of {len(items)} puzzles in {args.file} have no solution", file=sys.stderr)
        return 1
    return 0


# ---- compare two models -------------------------------------------------------------------------------------------
def run_compare(args: argparse.Namespace, kind, items: list, models: list) -> int:
    """Both models on every puzzle; the timeline pairs their steps in lockstep (a model that stopped earlier keeps
    its last answer)."""
    from engine.architectures import arch_of
    from engine.inference import solve_puzzle
    from trm_lab.compare import lockstep

    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    out = sys.stdout
    words = {True: "yes", False: "no", None: "unknown"}
    report = []
    for n, item in enumerate(items, 1):
        reason = kind.no_solution(item.question)
        runs = [list(solve_puzzle(m, item.question, options(args, m, args.halt_threshold))) for m in models]
        timeline = lockstep(*runs)
        if not args.json:
            print(f"== {item.label} ({n}/{len(items)}): {models[0].name} | {models[1].name} ==", file=out)
        rows = []
        for k, (a, b, differ) in enumerate(timeline, 1):
            rows.append({"step": k, "differ": int(differ.sum()), "halt_prob": [round(a.halt_prob, 6),
                                                                               round(b.halt_prob, 6)]})
            if not args.json:
                print(f"step {k:>2}  {models[0].name}: halting {a.halt_prob:.3f}, changed {int(a.changed.sum())}  |  "
                      f"{models[1].name}: halting {b.halt_prob:.3f}, changed {int(b.changed.sum())}  |  "
                      f"{int(differ.sum())} cells differ", file=out)
                pictures = [render(kind, s.grid, s.confidence, s.changed, item.question, color) for s in (a, b)]
                plain = [render(kind, s.grid, s.confidence, s.changed, item.question, False) for s in (a, b)]
                marks = ["".join("x" if d else "." for d in row) for row in differ] if differ.ndim == 2 else []
                width = max((len(line) for line in plain[0].splitlines()), default=0)
                for i, line in enumerate(pictures[0].splitlines()):
                    right = pictures[1].splitlines()
                    pad = " " * (width - len(plain[0].splitlines()[i]))
                    print(f"{line}{pad}   {right[i] if i < len(right) else ''}   "
                          f"{marks[i] if i < len(marks) else ''}", file=out)
        results = []
        for loaded, steps in zip(models, runs, strict=True):
            last = steps[-1]
            valid, correct = verdict(kind, item, last.grid)
            if reason:
                valid = correct = False
            results.append({"model": loaded.name, "arch": arch_of(loaded.model), "answer": kind.readable(last.grid),
                            "valid": valid, "correct": correct, "steps": last.index,
                            "halting_step": next((s.index for s in steps if s.halt_prob > 0.5), None),
                            "seconds": round(last.elapsed_s, 4)})
            if not args.json:
                print(f"{loaded.name}: answer after {last.index} steps: valid {words[valid]}, correct "
                      f"{words[correct]}, {last.elapsed_s:.2f} s", file=out)
        final_differ = timeline[-1][2]
        report.append({"label": item.label, "kind": kind.name, "solvable": reason is None, "no_solution": reason,
                       "results": results, "timeline": rows, "agree": not bool(final_differ.any()),
                       "differing_cells": np.argwhere(final_differ).tolist()})
    if args.json:
        json.dump({"file": str(args.file), "kind": kind.name, "models": [m.name for m in models], "puzzles": report},
                  out)
        out.write("\n")
    return 0


# ---- eval ---------------------------------------------------------------------------------------------------------
def run_eval(args: argparse.Namespace) -> int:
    kind, items, (loaded,) = prepare(args)
    if think.wanted(args):
        return think.run_eval(args, kind, items, loaded)
    import torch

    from engine.inference import GridCodec, pick_device, solve_steps

    items = [i for i in items if i.expected is not None]
    if not items:
        raise CommandError(f"{args.file}: no puzzle has a known answer to compare with")
    opts = options(args, loaded)
    # One canvas for the batch: a relative2d maze model takes the largest maze's size, smaller ones are padded.
    loaded = loaded.fitted(max(i.question.shape[0] for i in items), max(i.question.shape[1] for i in items))
    codecs = [GridCodec(loaded.encoding, item.question) for item in items]
    n, steps = len(items), opts.max_steps
    exact = np.zeros((steps, n), dtype=bool)
    cells = np.zeros((steps, n))
    halt_step = np.full(n, np.nan)
    valid = np.zeros(n, dtype=bool)
    started, cpu_started = time.perf_counter(), time.process_time()
    for lo in range(0, n, args.batch):
        hi = min(n, lo + args.batch)
        tokens = torch.as_tensor(np.stack([c.tokens for c in codecs[lo:hi]]))
        ids = torch.zeros(hi - lo, dtype=torch.long) if loaded.config.prefix_len else None
        for step in solve_steps(loaded.model, tokens, ids, opts):
            k = step.index - 1
            probs = step.halt_prob.numpy()
            for b in range(hi - lo):
                i = lo + b
                answer = codecs[i].decode(step.tokens[b].numpy())[0]
                expected = items[i].expected
                same_shape = answer.shape == expected.shape
                exact[k, i] = same_shape and bool(np.array_equal(answer, expected))
                cells[k, i] = float((answer == expected).mean()) if same_shape else 0.0
                if np.isnan(halt_step[i]) and probs[b] > 0.5:
                    halt_step[i] = step.index
                if k == steps - 1:
                    valid[i] = kind.is_valid(items[i].question, answer) if kind.has_rules else exact[k, i]
        print(f"eval: {hi}/{n} puzzles, {time.perf_counter() - started:.1f} s", file=sys.stderr)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    halted = ~np.isnan(halt_step)
    report = {
        "file": str(args.file), "model": loaded.name, "kind": kind.name, "puzzles": n, "steps": steps,
        "exact_accuracy": float(exact[-1].mean()), "cell_accuracy": float(cells[-1].mean()),
        "valid_rate": float(valid.mean()),
        "exact_accuracy_per_step": [round(float(v), 6) for v in exact.mean(1)],
        "cell_accuracy_per_step": [round(float(v), 6) for v in cells.mean(1)],
        "mean_halting_step": float(halt_step[halted].mean()) if halted.any() else None,
        "never_halted": int((~halted).sum()),
        "puzzles_per_s": n / seconds if seconds > 0 else None, "seconds": seconds,
        # CPU seconds of this process (all its threads): a time per puzzle that machine load does not inflate
        "cpu_seconds": cpu_seconds, "cpu_ms_per_puzzle": 1000 * cpu_seconds / n,
        "device": str(pick_device(opts.device)), "dtype": opts.dtype,
    }
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return 0
    mean_halt = report["mean_halting_step"]
    print(f"{n} {kind.name} puzzles, model {loaded.name}, {steps} steps\n"
          f"exact accuracy {report['exact_accuracy']:.4f}   cell accuracy {report['cell_accuracy']:.4f}   "
          f"valid {report['valid_rate']:.4f}\n"
          f"mean halting step {'-' if mean_halt is None else f'{mean_halt:.2f}'} "
          f"({report['never_halted']} never halted)   {report['puzzles_per_s']:.2f} puzzles/s   "
          f"{report['cpu_ms_per_puzzle']:.1f} CPU-ms per puzzle")
    print("step  exact   cells")
    for k in range(steps):
        print(f"{k + 1:>4}  {report['exact_accuracy_per_step'][k]:.4f}  {report['cell_accuracy_per_step'][k]:.4f}")
    return 0


# ---- wiring -------------------------------------------------------------------------------------------------------
def user_error(exc: BaseException) -> bool:
    """Problems with the user's files or options (as opposed to bugs): reported in one line."""
    if isinstance(exc, (CommandError, ValueError, OSError)):  # PuzzleError is a ValueError
        return True
    if "engine.checkpoint" in sys.modules:  # imported lazily, so `solve missing.txt` never loads torch
        return isinstance(exc, sys.modules["engine.checkpoint"].CheckpointError)
    return False


def guarded(handler):
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:  # `trm-lab solve ... | head`: the reader has seen enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as exc:
            if not user_error(exc):
                raise
            print(f"trm-lab {args.command}: {exc}", file=sys.stderr)
            return 2

    return run


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="puzzles: Sudoku/maze text or CSV, or an ARC task .json")
    p.add_argument("--model", action="append",
                   help="a model name (`trm-lab models`) or a .safetensors path; solve: twice to compare two")
    p.add_argument("--steps", type=int, help="supervision steps (default: the model's trained count)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--json", action="store_true", help="machine-readable results on stdout")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("solve", help="solve puzzles step by step")
    _common(p)
    p.add_argument("--halt-threshold", type=float, help="stop a puzzle once its halting probability exceeds this")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    think.add_arguments(p, sweep=False)
    p.set_defaults(func=guarded(run_solve), max_models=2)
    p = subparsers.add_parser("eval", help="accuracy of a model over a file of puzzles")
    _common(p)
    p.add_argument("--batch", type=int, default=64, help="puzzles per batch")
    think.add_arguments(p, sweep=True)
    p.set_defaults(func=guarded(run_eval), max_models=1)
