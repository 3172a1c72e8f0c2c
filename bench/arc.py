"""ARC on-device benchmark: `trm-lab eval-arc` on fixed samples of ARC-AGI-1, one JSON report per experiment.

    .venv/bin/python bench/arc.py --list
    .venv/bin/python bench/arc.py eval50 train25          # run experiments (results in bench/results/arc-*.json)
    .venv/bin/python bench/arc.py --table                 # summarise every result on disk

Budgets count this process's CPU seconds (`--clock cpu`) on one thread, so a run means the same on a shared machine
as on an idle one; wall time per task is reported beside it. Samples are the first N task ids in sorted order.
Experiments before "eval50-b120" ran with the settings of their time (4 supervision steps, which `--supervision-steps
4` restores, and the first arc-base, since replaced): their results stay as measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from engine.atomic import atomic_write_text  # noqa: E402

RESULTS = ROOT / "bench" / "results"
COMMON = ["--clock", "cpu", "--threads", "1", "--json"]
OLD = ["--fresh", "--supervision-steps", "4"]  # the fresh model as it was before one step per sample

# name -> (description, eval-arc arguments)
EXPERIMENTS: dict[str, tuple[str, list[str]]] = {
    "eval50": ("50 ARC-AGI-1 evaluation tasks, fresh model, 3 CPU-s, 8 views",
               ["--corpus", "arc1-eval", "--tasks", "50", "--budget-s", "3", "--views", "8", *OLD]),
    "train25": ("25 ARC-AGI-1 training tasks, fresh model, 3 CPU-s, 8 views",
                ["--corpus", "arc1-train", "--tasks", "25", "--budget-s", "3", "--views", "8", *OLD]),
    "easy12": ("12 ARC-AGI-1 training tasks with one simple rule (colour map, flip/rotation, shift, tiling), fresh, "
               "20 CPU-s, 16 views",
               ["--corpus", "arc1-train", "--ids", "0d3d703e,b1948b0a,c8f0f002,3c9b0459,6150a2bd,67a3c6ac,68b16354,"
                "74dd1130,9dfd6313,ed36ccf7,a416b8f3,25ff71a9", "--budget-s", "20", "--views", "16", *OLD]),
    "easy3-base-all": ("3 of the easy12 tasks, arc-base start, all weights fine-tuned, 20 CPU-s, 16 views",
                       ["--corpus", "arc1-train", "--ids", "b1948b0a,c8f0f002,6150a2bd", "--budget-s", "20",
                        "--views", "16", "--base", "arc-base"]),
    "easy3-base-frozen": ("3 of the easy12 tasks, arc-base start, puzzle embeddings only, 20 CPU-s, 16 views",
                          ["--corpus", "arc1-train", "--ids", "b1948b0a,c8f0f002,6150a2bd", "--budget-s", "20",
                           "--views", "16", "--base", "arc-base", "--embeddings-only"]),
    "eval-small5-base-all": ("the first 5 evaluation tasks with grids <= 11 (unseen by arc-base), arc-base start, all "
                             "weights, 3 CPU-s, 8 views (compare with the same tasks in eval50)",
                             ["--corpus", "arc1-eval", "--max-grid", "11", "--tasks", "5", "--budget-s", "3",
                              "--views", "8", "--base", "arc-base"]),
    "small-fresh-10": ("15 evaluation tasks with grids <= 11, fresh, 10 CPU-s, 16 views",
                       ["--corpus", "arc1-eval", "--max-grid", "11", "--tasks", "15", "--budget-s", "10",
                        "--views", "16", *OLD]),
    "small-fresh-40": ("same 15 tasks, fresh, 40 CPU-s, 16 views",
                       ["--corpus", "arc1-eval", "--max-grid", "11", "--tasks", "15", "--budget-s", "40",
                        "--views", "16", *OLD]),
    "small-fresh-10-v4": ("same 15 tasks, fresh, 10 CPU-s, 4 views",
                          ["--corpus", "arc1-eval", "--max-grid", "11", "--tasks", "15", "--budget-s", "10",
                           "--views", "4", *OLD]),
    "small-fresh-10-c30": ("same 15 tasks, fresh, 10 CPU-s, 16 views, full 30x30 canvas",
                           ["--corpus", "arc1-eval", "--max-grid", "11", "--tasks", "15", "--budget-s", "10",
                            "--views", "16", "--canvas", "30", *OLD]),
    "small-base-10": ("same 15 tasks, arc-base puzzle embeddings only (frozen weights), 10 CPU-s, 16 views",
                      ["--corpus", "arc1-eval", "--max-grid", "11", "--tasks", "15", "--budget-s", "10",
                       "--views", "16", "--base", "arc-base", "--embeddings-only"]),
    "small-base-all-10": ("same 15 tasks, arc-base all weights, 10 CPU-s, 16 views",
                          ["--corpus", "arc1-eval", "--max-grid", "11", "--tasks", "15", "--budget-s", "10",
                           "--views", "16", "--base", "arc-base"]),
    # Default settings since 2026-11-23 20:00 (one supervision step per sample; arc-base retrained with it).
    "eval50-b120": ("the first 50 ARC-AGI-1 evaluation tasks, fresh model, 120 CPU-s (the default budget), 32 views",
                    ["--corpus", "arc1-eval", "--tasks", "50", "--budget-s", "120", "--fresh"]),
    "fit10-base-b120": ("the 10 of those 50 whose grids fit arc-base's 12x12 canvas, from arc-base (all weights, the "
                        "default for them), 120 CPU-s, 32 views",
                        ["--corpus", "arc1-eval", "--ids", "00576224,03560426,0692e18c,0becf7df,0c786b71"
                         ",12eac192,137f0df0,15696249,17cae0c1,1acc24af",
                         "--budget-s", "120"]),
    "train10-b120": ("10 ARC-AGI-1 training tasks drawn at random (random.seed(2026)), fresh model, 120 CPU-s, "
                     "32 views",
                     ["--corpus", "arc1-train", "--ids", "25ff71a9,29ec7d0e,4be741c5,6d0aefbc,a699fb00,"
                      "a87f7484,b775ac94,c8cbb738,ce602527,d406998b",
                      "--budget-s", "120", "--fresh"]),
}


def run(name: str) -> dict:
    desc, args = EXPERIMENTS[name]
    RESULTS.mkdir(parents=True, exist_ok=True)
    partial = RESULTS / f"arc-{name}.jsonl"  # one line per finished task, kept if the run is cut short
    partial.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "trm_lab.cli", "eval-arc", *args, *COMMON,
           "-o", str(RESULTS / f"arc-{name}.submission.json"), "--results-jsonl", str(partial)]
    print(f"== {name}: {desc}\n   {' '.join(cmd[2:])}", file=sys.stderr)
    t0 = time.time()
    log = RESULTS / f"arc-{name}.log"  # the command's progress, to follow a long run with `tail -f`
    with open(log, "w") as err:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}); see {log}")
    report = json.loads(proc.stdout)
    report.update(experiment=name, description=desc, command="trm-lab eval-arc " + " ".join(args + COMMON),
                  wall_s=round(time.time() - t0, 1), date=time.strftime("%Y-%m-%d %H:%M:%S"))
    atomic_write_text(RESULTS / f"arc-{name}.json", json.dumps(report, indent=1))
    return report


def _partial(path: Path) -> dict:
    """A report from the per-task lines of a run that has not finished (or was cut short)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scored = [r["score"] for r in rows if r["score"] is not None]
    return {"experiment": path.stem.removeprefix("arc-") + " (partial)", "tasks": len(rows),
            "pass@2": sum(scored) / len(scored) if scored else None, "solved_tasks": scored.count(1.0),
            "seconds_per_task": sum(r["seconds"] for r in rows) / max(1, len(rows)), "per_task": rows}


def table() -> str:
    lines = ["| experiment | tasks | pass@2 | solved | train steps (median) | train CPU s | wall s/task |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("arc-*.json*")):
        if path.name.endswith(".submission.json") or (path.suffix == ".jsonl" and path.with_suffix(".json").exists()):
            continue
        r = json.loads(path.read_text()) if path.suffix == ".json" else _partial(path)
        steps = sorted(t["train_steps"] for t in r["per_task"])
        cpu = sum(t.get("train_cpu_s", 0) for t in r["per_task"]) / max(1, len(r["per_task"]))
        p2 = "n/a" if r["pass@2"] is None else f"{r['pass@2']:.3f}"
        lines.append(f"| {r.get('experiment', path.stem)} | {r['tasks']} | {p2} | {r['solved_tasks']} | "
                     f"{steps[len(steps) // 2] if steps else 0} | {cpu:.1f} | {r['seconds_per_task']:.1f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiments", nargs="*", metavar="NAME", help="experiments to run (see --list)")
    p.add_argument("--list", action="store_true")
    p.add_argument("--table", action="store_true")
    args = p.parse_args()
    unknown = [n for n in args.experiments if n not in EXPERIMENTS]
    if unknown:
        p.error(f"unknown experiment(s): {', '.join(unknown)} (see --list)")
    if args.list:
        for name, (desc, _) in EXPERIMENTS.items():
            print(f"{name:20s} {desc}")
    for name in args.experiments:
        r = run(name)
        print(f"{name}: pass@2 {r['pass@2']}  solved {r['solved_tasks']}/{r['tasks']}  "
              f"{r['seconds_per_task']:.1f} s/task", flush=True)
    if args.table or not (args.list or args.experiments):
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
