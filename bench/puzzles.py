"""Puzzle-core benchmark: Sudoku solve times and generation rates, maze generation rates.

    .venv/bin/python bench/puzzles.py            # full run (1000 Sudoku, about a minute on 2 cores)
    .venv/bin/python bench/puzzles.py --quick    # smaller counts
    .venv/bin/python bench/puzzles.py --json     # machine-readable
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.puzzles import maze, sudoku  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "puzzles"


def solve_times(grids, repeats: int = 1) -> list[float]:
    """CPU seconds per solve (best of `repeats`), counting solutions up to 2 as a uniqueness check does. CPU time,
    not wall time, so other processes competing for the cores do not inflate it."""
    out = []
    for g in grids:
        best = float("inf")
        for _ in range(repeats):
            t = time.thread_time()
            sudoku.solve(g, limit=2)
            best = min(best, time.thread_time() - t)
        out.append(best)
    return out


def summary(times: list[float]) -> dict:
    return {"median_ms": 1000 * statistics.median(times), "max_ms": 1000 * max(times), "n": len(times)}


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workers", type=int, default=None, help="generation processes (default: all cores)")
    args = parser.parse_args()
    n_easy, n_hard, n_maze15, n_maze30 = (200, 40, 100, 20) if args.quick else (1000, 200, 500, 100)
    workers = args.workers or os.cpu_count() or 1
    results: dict = {"cpus": os.cpu_count(), "workers": workers,
                     "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}

    def log(msg: str) -> None:
        if not args.json:
            print(msg, flush=True)

    if results["load_average"]:
        log(f"{results['cpus']} CPUs, load average {results['load_average'][0]:.1f} (wall-clock rates drop under load)")
    famous = sudoku.load(ASSETS / "sudoku-famous-hard.csv")
    per = {p.source: 1000 * t for p, t in zip(famous, solve_times([p.givens for p in famous], repeats=3),
                                             strict=True)}
    results["famous_hard"] = {**summary([v / 1000 for v in per.values()]), "per_puzzle_ms": per}
    log("Sudoku solve (count up to 2, CPU time), famous hard puzzles, best of 3:")
    for name, ms in per.items():
        log(f"  {name:40s} {ms:8.2f} ms")

    for n, (lo, hi) in ((n_easy, (30, 35)), (n_hard, (22, 27))):
        puzzles, dt = timed(lambda n=n, lo=lo, hi=hi: sudoku.generate(n, seed=2025, clues=(lo, hi), workers=workers))
        results[f"generate_{lo}_{hi}"] = {"count": n, "seconds": dt, "per_s": n / dt}
        log(f"Generate 9x9, {lo}-{hi} givens: {n} in {dt:.1f} s = {n / dt:.1f}/s ({workers} workers)")
        s = results[f"solve_generated_{lo}_{hi}"] = summary(solve_times([p.givens for p in puzzles]))
        log(f"Sudoku solve, {n} generated ({lo}-{hi} givens): median {s['median_ms']:.2f} ms, max {s['max_ms']:.2f} ms")

    for size, count in ((15, n_maze15), (30, n_maze30)):
        mazes, dt = timed(lambda size=size, count=count: maze.generate(count, seed=2025, size=size, workers=workers))
        lengths = [m.rating for m in mazes]
        results[f"maze_{size}"] = {"count": count, "seconds": dt, "per_s": count / dt,
                                   "min_path": maze.default_min_path(size),
                                   "median_path": statistics.median(lengths)}
        log(f"Generate maze {size}x{size}: {count} in {dt:.1f} s = {count / dt:.1f}/s "
            f"(shortest path >= {maze.default_min_path(size)}, median {statistics.median(lengths):.0f})")

    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
