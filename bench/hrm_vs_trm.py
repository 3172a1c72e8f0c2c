"""HRM versus TRM trained on the same data for the same CPU time: each run's checkpoint at equal CPU-second marks,
measured with `trm-lab eval` on one held-out file (same supervision steps, judged by the rules), with parameters
and CPU time per puzzle.

    .venv/bin/python bench/hrm_vs_trm.py --run TRM=RUN --run HRM=RUN --eval FILE.csv [--marks 300,900,1800]
        [--steps 8] [--json OUT.json] [--text OUT.txt] [--cache EVALS.json]

A checkpoint's CPU time is its run's `cpu_s` at that step (metrics.jsonl): the training process's CPU seconds, the
clock `--budget-s` stops on, so machine load does not favour either run. At each mark the newest checkpoint at or
before it is taken (a run that stopped before a mark is not shown at it). Sudoku puzzles that are (augmentations
of) puzzles in any run's training pool are left out of the held-out file first. With --cache, each checkpoint's
report is kept there and not measured again (marks can be measured while the runs go on).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.model import count_parameters  # noqa: E402
from engine.puzzles import sudoku  # noqa: E402
from trainers.bundle import training_fingerprints  # noqa: E402
from trainers.config import TrainConfig  # noqa: E402
from trainers.data import sudoku_invariant  # noqa: E402
from trainers.rundir import read_metrics  # noqa: E402


@dataclass
class Point:
    """One run measured at one CPU mark."""

    name: str
    mark_cpu_s: float
    step: int
    cpu_s: float
    wall_s: float
    exact: float
    valid: float
    cells: float
    mean_halting_step: float | None
    cpu_ms_per_puzzle: float


def checkpoint_times(run: Path) -> list[tuple[int, float, float, Path]]:
    """(step, CPU seconds, wall seconds, path) of each checkpoint that has a metrics row at its step."""
    rows, _ = read_metrics(run)
    at = {r["step"]: r for r in rows if r.get("split") == "train" and "cpu_s" in r}
    out = []
    for path in (run / "checkpoints").glob("step_*.safetensors"):
        step = int(path.stem.split("_")[1])
        if step in at:
            out.append((step, float(at[step]["cpu_s"]), float(at[step]["elapsed_s"]), path))
    return sorted(out)


def held_out(file: Path, runs: list[Path], workdir: Path) -> tuple[Path, int, int]:
    """The file without puzzles (up to augmentation) in either run's whole training pool; (path, kept, left out).
    The whole pool, not the part drawn so far, so every mark is measured on the same puzzles."""
    seen: set[tuple] = set()
    for run in runs:
        seen |= training_fingerprints(TrainConfig.load(run / "config.json"), steps=10**9)
    puzzles = sudoku.load(file)
    fresh = [p for p in puzzles if sudoku_invariant(p.givens) not in seen]
    path = workdir / f"{file.stem}-heldout.csv"
    sudoku.save(path, fresh)
    return path, len(fresh), len(puzzles) - len(fresh)


def evaluate(ckpt: Path, file: Path, steps: int, cache: Path | None, source: Path) -> dict:
    key = f"{ckpt.resolve()}|{ckpt.stat().st_mtime_ns}|{source.resolve()}|{steps}"  # a rerun's checkpoint is new
    known = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    if key in known:
        return known[key]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "trm_lab.cli", "eval", str(file), "--model", str(ckpt),
                           "--steps", str(steps), "--device", "cpu", "--json"],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise SystemExit(f"trm-lab eval {ckpt} failed: {proc.stderr.strip()[-300:]}")
    report = json.loads(proc.stdout)
    if cache is not None:
        known = json.loads(cache.read_text()) if cache.exists() else {}
        known[key] = report
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1) + "\n")
        tmp.replace(cache)
    return report


def parameters(ckpt: Path) -> dict:
    model = load_checkpoint(ckpt).model
    return {"without_embeddings": count_parameters(model), "all": count_parameters(model, include_embeddings=True)}


def table(points: list[Point], params: dict, names: list[str], kept: int, left_out: int, steps: int) -> str:
    lines = [f"held-out puzzles: {kept} ({left_out} left out: augmentations of training-pool puzzles); "
             f"{steps} supervision steps; exact = the solution, valid = right by the rules"]
    lines.append("parameters (without / with embeddings): " + ", ".join(
        f"{n} {params[n]['without_embeddings']:,} / {params[n]['all']:,}" for n in names if n in params))
    lines.append("")
    lines.append(f"{'CPU mark':>9}  " + "  ".join(
        f"{n + ' step':>9} {'CPU s':>7} {'wall s':>7} {'exact':>6} {'valid':>6} {'cells':>6} {'halt':>5} {'ms/pz':>6}"
        for n in names))
    for mark in sorted({p.mark_cpu_s for p in points}):
        cols = []
        for n in names:
            p = next((q for q in points if q.name == n and q.mark_cpu_s == mark), None)
            if p is None:
                cols.append(f"{'-':>9} {'':>7} {'':>7} {'':>6} {'':>6} {'':>6} {'':>5} {'':>6}")
                continue
            halt = "-" if p.mean_halting_step is None else f"{p.mean_halting_step:.2f}"
            cols.append(f"{p.step:>9} {p.cpu_s:>7.0f} {p.wall_s:>7.0f} {p.exact:>6.3f} {p.valid:>6.3f} "
                        f"{p.cells:>6.3f} {halt:>5} {p.cpu_ms_per_puzzle:>6.1f}")
        lines.append(f"{mark:>9.0f}  " + "  ".join(cols))
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="append", required=True, metavar="NAME=RUN", help="a run directory, named")
    p.add_argument("--eval", type=Path, required=True, help="held-out Sudoku file (CSV or text)")
    p.add_argument("--marks", default="1800", help="CPU-second marks, comma-separated")
    p.add_argument("--steps", type=int, default=8, help="supervision steps for every model")
    p.add_argument("--json", type=Path)
    p.add_argument("--text", type=Path)
    p.add_argument("--cache", type=Path, help="checkpoint reports kept between calls (one held-out file per cache)")
    args = p.parse_args()
    runs = dict(item.split("=", 1) for item in args.run)
    names, dirs = list(runs), [Path(r) for r in runs.values()]
    marks = [float(m) for m in args.marks.split(",") if m]
    with tempfile.TemporaryDirectory() as tmp:
        file, kept, left_out = held_out(args.eval, dirs, Path(tmp))
        points, params = [], {}
        for name, run in zip(names, dirs, strict=True):
            times = checkpoint_times(run)
            if not times:
                print(f"{run}: no checkpoint with a cpu_s metrics row yet", file=sys.stderr)
                continue
            params[name] = parameters(times[-1][3])
            reached = max(float(r.get("cpu_s", 0.0)) for r in read_metrics(run)[0])
            for mark in marks:
                before = [t for t in times if t[1] <= mark]
                if not before or reached < mark:  # a run that stopped short of the mark is not shown at it
                    continue
                step, cpu_s, wall_s, ckpt = before[-1]
                r = evaluate(ckpt, file, args.steps, args.cache, args.eval)
                points.append(Point(name, mark, step, cpu_s, wall_s, r["exact_accuracy"], r["valid_rate"],
                                    r["cell_accuracy"], r["mean_halting_step"], r["cpu_ms_per_puzzle"]))
                print(f"{name} at {mark:g} CPU-s: step {step}, exact {r['exact_accuracy']:.3f}", file=sys.stderr)
    text = table(points, params, names, kept, left_out, args.steps)
    print(text)
    if args.text:
        args.text.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"held_out": {"file": str(args.eval), "kept": kept, "left_out": left_out},
                                         "steps": args.steps, "parameters": params,
                                         "points": [asdict(q) for q in points]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
