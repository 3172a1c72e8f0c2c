"""`trm-lab generate {sudoku,maze} --count N --seed S [--clues A-B | --size N] [-o FILE]`.

Writes the reference's `source,question,answer,rating` CSV (to stdout without `-o`); with `-o`, the suffix picks
the format: `.csv` CSV, anything else one-line Sudoku / text mazes. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from engine.atomic import atomic_path
from engine.puzzles import PuzzleError
from engine.puzzles.kind import PuzzleKind, all_kinds, get_kind


def _clue_range(text: str) -> tuple[int, int]:
    try:
        if "-" in text:
            lo, hi = text.split("-", 1)
            return int(lo), int(hi)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 30-35, got {text!r}") from None


def _rating_range(text: str) -> tuple[float, float]:
    try:
        lo, sep, hi = text.partition("-")
        if not sep:
            return float(lo), float("inf")
        return float(lo), float(hi) if hi else float("inf")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 8-40 (or 8- for at least 8), got {text!r}") from None


def _density_range(text: str) -> tuple[float, float]:
    try:
        lo, _, hi = text.partition("-")
        out = (float(lo), float(hi or lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 0.3-0.5, got {text!r}") from None
    if not 0 <= out[0] <= out[1] < 1:
        raise argparse.ArgumentTypeError(f"wall density must be a range within 0-1 (like 0.3-0.5), got {text!r}")
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate Sudoku or mazes with known answers",
                              description=__doc__.split("\n\n", 1)[1].strip())
    p.add_argument("kind", choices=[k.name for k in all_kinds() if k.generates])
    p.add_argument("--count", type=int, default=1, help="how many puzzles (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same puzzles (default 0)")
    p.add_argument("--clues", type=_clue_range, default=None, metavar="A-B",
                   help="Sudoku: givens per puzzle (default 30-35 for 9x9; 22-27 with --rating)")
    p.add_argument("--rating", type=_rating_range, default=None, metavar="LO-HI",
                   help="Sudoku: keep puzzles whose difficulty rating lies in LO-HI (8 or 8- means at least 8): "
                        "the guesses a search solver with singles makes to solve and prove them unique; 0 = singles "
                        "suffice. Written to the CSV's rating column")
    p.add_argument("--size", type=int, default=None,
                   help="Sudoku: 4, 6 or 9 (default 9); maze: side length 5-30 (default 15)")
    p.add_argument("--min-path", type=int, default=None, help="maze: shortest path length to reach (default: hard)")
    p.add_argument("--loops", type=float, default=None,
                   help="maze: fraction of inner walls knocked out to add longer routes; 0 = perfect mazes, one "
                        "route (default 0.2)")
    p.add_argument("--style", choices=("dfs", "hard"), default=None,
                   help="maze: dfs (a depth-first maze, with --loops; default) or hard (Maze-Hard: random walls at "
                        "--density, S and G at least --min-path apart; default min-path 111 at 30x30, by area below)")
    p.add_argument("--density", type=_density_range, default=None, metavar="A-B",
                   help="maze --style hard: wall fraction range (default 0.3-0.5)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores for large counts)")
    p.add_argument("-o", "--output", type=Path, default=None, help="output file (.csv, else lines/text grids)")
    p.set_defaults(func=run)


def _progress(label: str):
    start = time.monotonic()
    last = [0.0]
    interactive = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done != total and now - last[0] < 0.5:
            return
        last[0] = now
        rate = done / max(now - start, 1e-9)
        msg = f"{label}: {done}/{total} ({rate:.0f}/s)"
        print(("\r" + msg) if interactive else msg, end="" if interactive and done != total else "\n",
              file=sys.stderr, flush=True)

    return report


def _pieces(kind: PuzzleKind, puzzles, args: argparse.Namespace, *, csv: bool):
    """The file's text one puzzle at a time, as `kind.dumps` would write the whole list: a huge --count streams
    to the file instead of being held in memory."""
    for i, p in enumerate(puzzles):
        p.source = f"trm-lab-{args.kind}-seed{args.seed}-{i}"
        text = kind.dumps([p], csv=csv)
        if csv:
            yield text if i == 0 else text.split("\n", 1)[1]  # the header once
        else:
            yield kind.record_gap + text if i else text


def _options(kind: PuzzleKind, args: argparse.Namespace) -> dict:
    """The generator options given on the command line; one that belongs to another kind is an error."""
    given = {name: getattr(args, name) for k in all_kinds() for name in k.generator_options
             if getattr(args, name, None) is not None}
    for owner in all_kinds():
        if owner is not kind and any(name in owner.generator_options for name in given):
            flags = ["--" + name.replace("_", "-") for name in owner.generator_options]
            raise PuzzleError(f"{', '.join(flags[:-1])} and {flags[-1]} apply to {owner.title_plural} only")
    return given


def run(args: argparse.Namespace) -> int:
    try:
        if args.count < 0:
            raise PuzzleError(f"--count must be >= 0, got {args.count}")
        if args.seed < 0:
            raise PuzzleError(f"--seed must be 0 or more, got {args.seed}")
        kind = get_kind(args.kind)
        options = _options(kind, args)
        size = kind.default_size if args.size is None else args.size
        puzzles = kind.generate(args.count, seed=args.seed, size=size, workers=args.workers,
                                progress=_progress(kind.generator_label(size, options)), **options)
        if args.output is None:
            for piece in _pieces(kind, puzzles, args, csv=True):
                sys.stdout.write(piece)
            sys.stdout.flush()
        else:
            with atomic_path(args.output) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                for piece in _pieces(kind, puzzles, args, csv=args.output.suffix.lower() == ".csv"):
                    fh.write(piece)
            print(f"wrote {args.count} puzzles to {args.output}", file=sys.stderr)
    except BrokenPipeError:  # `trm-lab generate ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except PuzzleError as exc:
        print(f"trm-lab generate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"trm-lab generate: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
