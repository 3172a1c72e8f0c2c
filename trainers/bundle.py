"""`python -m trainers.bundle RUN NAME [--tiers ...]`: ship a training run as a bundled model with a measured card.

1. Exports the newest complete checkpoint's EMA model (no optimizer, no carry) to assets/models/NAME.safetensors.
2. Generates held-out puzzles per difficulty tier with `trm-lab generate`, checks none of them is (an augmentation
   of) a training puzzle, and measures the model with `trm-lab eval --json` on each.
3. Writes assets/models/NAME.md: preset, exact command, training time, accuracy per tier, and the training curve's
   last held-out numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write_text
from engine.checkpoint import load_checkpoint
from engine.model import count_parameters
from engine.puzzles.kind import get_kind
from trainers.checkpointing import export_model
from trainers.config import TrainConfig
from trainers.data import HARD_RATING, MazeDataset, SudokuDataset, _key, build_eval_set, sudoku_invariant
from trainers.rundir import latest_checkpoint, read_metrics

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 8 * 1024 * 1024


def training_time_s(run: Path) -> float:
    """Wall time summed over the run's segments (a resumed run restarts elapsed_s from 0)."""
    total, last = 0.0, 0.0
    for row in read_metrics(run)[0]:
        if row.get("split") != "train":
            continue
        e = float(row.get("elapsed_s", 0.0))
        if e < last:
            total += last
        last = e
    return total + last


class BundleError(RuntimeError):
    pass


def _cli(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "trm_lab.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode:
        raise BundleError(f"`trm-lab {' '.join(args)}` failed: {proc.stderr.strip()[-500:]}")
    return proc


def training_fingerprints(cfg: TrainConfig, steps: int) -> set[tuple]:
    """Augmentation-invariant fingerprints of every pool puzzle the run could have drawn by `steps`."""
    _, exclude = build_eval_set(cfg.data)  # the run's pool skipped these, so the rebuilt pool is the same
    ds = SudokuDataset(cfg.data, cfg.seed, cache_dir=_cache_dir(), exclude=exclude)
    k = ds.usable(steps)
    ds.pool.wait_for(k)
    hard = ds.hard[0] if ds.hard is not None else []
    return {sudoku_invariant(g) for g in ds.pool.givens[:k]} | {sudoku_invariant(g) for g in hard}


def training_maze_keys(cfg: TrainConfig, steps: int, batches: int = 100) -> set[bytes]:
    """Hashes of the mazes in the run's first `batches` training batches (the stream is too long to replay)."""
    ds = MazeDataset(cfg.data, cfg.seed)
    keys: set[bytes] = set()
    for i in range(min(steps, batches)):
        keys |= {_key(row) for row in ds.batch(i, cfg.batch_size).inputs.numpy()}
    return keys


def _cache_dir() -> Path | None:
    from trainers.run import _cache_dir as cache

    return cache()


@dataclass(frozen=True)
class Tier:
    """One row of the card's accuracy table: held-out puzzles generated with `options`."""

    name: str  # the generated file's stem
    label: str  # the card's tier column
    options: list[str]  # `trm-lab generate` options besides the kind, count, seed and size


def sudoku_tiers(text: str, cfg: TrainConfig) -> list[Tier]:
    """`--tiers 40-50,33-39`: givens ranges (default: one tier, the generator's givens)."""
    size = cfg.data.size
    ranges = ["-".join(str(int(x)) for x in t.split("-")) for t in text.split(",") if t]
    return ([Tier(f"sudoku{size}-{r}", f"{r} givens", ["--clues", r]) for r in ranges]
            or [Tier(f"sudoku{size}-all", f"{size}x{size}", [])])


def maze_tiers(text: str, cfg: TrainConfig) -> list[Tier]:
    """`--tiers 0,0.2`: loop fractions (default: the run's)."""
    size = cfg.data.size
    loops = [float(t) for t in text.split(",") if t] or [cfg.data.maze_loops]
    return [Tier(f"maze{size}-loops{x:g}", f"{size}x{size}, " + ("no loops" if x == 0 else f"loops {x:g}"),
                 ["--loops", f"{x:g}"]) for x in loops]


def _sudoku_seen_note(cfg: TrainConfig) -> str:
    return (" (fingerprint check against every pool puzzle the run could draw"
            + ("; small grids have few distinct puzzles, so many match)." if cfg.data.size < 9 else ")."))


def _maze_seen_note(cfg: TrainConfig) -> str:
    return " (exact match against the first 100 training batches; training mazes come from a different seed stream)."


def _describe_sudoku(cfg: TrainConfig) -> str:
    d = cfg.data
    text = (f"generated {d.size}x{d.size} Sudokus with unique solutions, {d.clues[0]}-{d.clues[1]} givens, a pool "
            f"of up to {d.pool_size} puzzles (growing with the steps) with a fresh random symmetry on every draw")
    if d.hard_fraction:
        lo, hi = d.hard_rating or HARD_RATING
        text += (f"; {d.hard_fraction:.0%} of every batch's slots hold hard-rated puzzles (rating {lo:g}"
                 + (" or more" if hi >= HARD_RATING[1] else f"-{hi:g}") +
                 f", `trm-lab generate sudoku --rating`), from a pool of {d.hard_pool_size}")
    return text


def _describe_mazes(cfg: TrainConfig) -> str:
    d = cfg.data
    text = f"{d.size}x{d.size} mazes generated fresh for every draw (engine.puzzles.maze, hard: long shortest paths"
    text += ("; perfect: one route between any two cells)" if d.maze_loops == 0
             else f"; loops: {d.maze_loops:g} of the inner walls knocked out)")
    if d.curriculum_start and d.curriculum_steps:
        text += (f", with a size curriculum: {d.curriculum_start}x{d.curriculum_start} mazes padded with walls "
                 f"at first, growing to {d.size}x{d.size} over {d.curriculum_steps} steps")
    return text


@dataclass(frozen=True)
class Shipping:
    """What shipping a model of one puzzle kind needs: its held-out tiers, the puzzles its run trained on, the key
    that finds a generated question among them, and the card's words for its data and that check."""

    tiers: Callable[[str, TrainConfig], list[Tier]]  # (--tiers, config) -> the card's rows
    seen: Callable[[TrainConfig, int], set]  # (config, steps) -> keys of the puzzles the run drew
    key: Callable[[np.ndarray], Hashable]  # a question grid -> its key among `seen`
    seen_note: Callable[[TrainConfig], str]
    describe: Callable[[TrainConfig], str]


SHIPPING = {  # by puzzle kind: the kinds trainers.data generates
    "sudoku": Shipping(sudoku_tiers, training_fingerprints, sudoku_invariant, _sudoku_seen_note, _describe_sudoku),
    "maze": Shipping(maze_tiers, training_maze_keys, lambda q: _key(q.reshape(-1).astype(np.int64) + 1),
                     _maze_seen_note, _describe_mazes),
}


def measure_tier(model_path: Path, cfg: TrainConfig, tier: Tier, count: int, seed: int, seen: set | None,
                 workdir: Path) -> dict:
    kind = cfg.data.kind
    path = workdir / f"{tier.name}.csv"
    args = ["generate", kind, "--count", str(count), "--seed", str(seed), "--size", str(cfg.data.size), "-o",
            str(path), *tier.options]
    _cli(*args)
    shown = "trm-lab " + " ".join(a if a != str(path) else f"{tier.name}.csv" for a in args)
    overlap, evaluated = 0, count
    if seen is not None:  # evaluate only puzzles that are not (augmentations of) training puzzles
        puzzle_kind, key = get_kind(kind), SHIPPING[kind].key
        records = puzzle_kind.load(path)
        fresh = [r for r in records if key(puzzle_kind.item(r).question) not in seen]
        overlap, evaluated = len(records) - len(fresh), len(fresh)
        if overlap:
            path = workdir / f"{tier.name}-heldout.csv"
            puzzle_kind.save(path, fresh)
    report = json.loads(_cli("eval", str(path), "--model", str(model_path), "--json").stdout)
    return {"tier": tier.label, "count": evaluated,
            "seed": seed, "generate": shown,
            "exact_accuracy": report["exact_accuracy"], "cell_accuracy": report["cell_accuracy"],
            "mean_halting_step": report["mean_halting_step"], "puzzles_per_s": report["puzzles_per_s"],
            "overlap_with_training": overlap, "exact_accuracy_per_step": report["exact_accuracy_per_step"]}


def write_card(path: Path, *, name: str, cfg: TrainConfig, run: Path, ckpt: Path, model_path: Path, command: str,
               tiers: list[dict], train_s: float, targets: dict[str, float], notes: str) -> None:
    loaded = load_checkpoint(model_path)
    training = loaded.training
    evals = [r for r in read_metrics(run)[0] if r.get("split") == "eval" and r["step"] <= training.get("steps", 0)]
    last_eval = evals[-1] if evals else None
    lines = [
        f"# {name}",
        "",
        f"TRM trained on this project's CPU (2 shared cores) with the `{cfg.preset}` preset "
        f"({loaded.config.mixer} mixer, hidden {loaded.config.hidden_size}, {loaded.config.L_layers} layers, "
        f"T={loaded.config.H_cycles}, n={loaded.config.L_cycles}, {loaded.config.halt_max_steps} supervision steps"
        + ("; " if loaded.config.halt_max_steps == cfg.model.get("halt_max_steps", 16)
           else f" (trained with {cfg.model.get('halt_max_steps', 16)}); ") +
        f"{count_parameters(loaded.model):,} parameters without embeddings). EMA weights.",
        "",
        "## Training",
        "",
        "- Commands as run: " + ", then ".join(f"`{c.strip()}`" for c in command.split(";")) + f". `trm-lab train "
        f"{cfg.preset} --out RUN` runs the same code (with a progress bar); a stopped run continues with "
        "`trm-lab train --resume RUN`.",
        f"- Steps: {training.get('steps')} at batch {cfg.batch_size} "
        f"({training.get('steps', 0) * cfg.batch_size:,} puzzle-supervision-steps), loss {cfg.loss}, lr {cfg.lr}, "
        f"EMA {cfg.ema}.",
        f"- Training time: {train_s / 3600:.2f} h wall clock on a 2-core CPU shared with other work "
        f"(single thread per run).",
        f"- Data: {_describe_data(cfg)}",
        f"- Checkpoint: `{ckpt.name}` of the run, exported model-only ({model_path.stat().st_size / 1e6:.2f} MB).",
        "",
        "## Accuracy (measured with `trm-lab eval` on held-out generated puzzles)",
        "",
        "| tier | puzzles | exact | cells | mean halting step | target | generated with |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in tiers:
        target = targets.get(t["tier"])
        halt = "-" if t["mean_halting_step"] is None else f"{t['mean_halting_step']:.2f}"
        lines.append(f"| {t['tier']} | {t['count']} | {t['exact_accuracy']:.1%} | {t['cell_accuracy']:.1%} | {halt} | "
                     f"{'-' if target is None else f'{target:.0%}'} | `{t['generate']}` |")
    lines += [""]
    missed = [t for t in tiers if targets.get(t["tier"]) is not None and t["exact_accuracy"] < targets[t["tier"]]]
    overlaps = sum(t["overlap_with_training"] for t in tiers)
    lines.append(f"Held-out check: {overlaps} generated puzzles matched a training puzzle (up to augmentation) and "
                 "were left out of the counts above" + SHIPPING[cfg.data.kind].seen_note(cfg))
    lines.append("")
    if last_eval is not None:
        lines.append(f"Training-time held-out set (step {last_eval['step']}, {last_eval['count']} puzzles): exact "
                     f"{last_eval['exact_accuracy']:.1%}, cells {last_eval['accuracy']:.1%}, mean halting step "
                     f"{last_eval['mean_halt_step']:.2f}.")
        lines.append("")
    if missed:
        lines += ["## Targets not reached", ""]
        for t in missed:
            lines.append(f"- {t['tier']}: {t['exact_accuracy']:.1%} measured, target {targets[t['tier']]:.0%}.")
        lines.append("")
    if notes:
        lines += [notes.strip(), ""]
    lines.append(f"Card written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m trainers.bundle`.")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _describe_data(cfg: TrainConfig) -> str:
    text = SHIPPING[cfg.data.kind].describe(cfg)
    if cfg.init_from:
        text += f". Started from the weights of `{cfg.init_from}`, not at random"
    return text + "."


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainers.bundle", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--tiers", default="", help="Sudoku givens ranges, e.g. 40-50,33-39 (default: one tier); "
                    "mazes: loop fractions, e.g. 0,0.2 (default: the run's)")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=424242)
    ap.add_argument("--targets", default="{}", help='JSON {"40-50 givens": 0.99, ...}')
    ap.add_argument("--command", default=None, help="the command(s) that trained it, separated by ';'")
    ap.add_argument("--notes", default="")
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "models")
    ap.add_argument("--step", type=int, default=None, help="export this step's checkpoint (default: the newest)")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="supervision steps the exported model runs by default (default: as trained)")
    args = ap.parse_args(argv)

    cfg = TrainConfig.load(args.run / "config.json")
    ckpt = (latest_checkpoint(args.run) if args.step is None
            else args.run / "checkpoints" / f"step_{args.step}.safetensors")
    if ckpt is None:
        print(f"error: {args.run}: no complete checkpoint", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / f"{args.name}.safetensors"
    command = args.command or f"python -m trainers.run {cfg.preset} --out {args.run}"
    export_model(ckpt, model_path, training_update={"preset": cfg.preset, "command": command,
                                                     "wall_time_s": round(training_time_s(args.run), 1)},
                 max_steps=args.max_steps)
    model_path.chmod(0o644)
    if model_path.stat().st_size > MAX_BYTES:
        print(f"error: {model_path} is {model_path.stat().st_size} bytes (> 8 MB)", file=sys.stderr)
        return 1
    shipping = SHIPPING[cfg.data.kind]
    steps = load_checkpoint(model_path).training.get("steps", 0)
    seen = shipping.seen(cfg, steps) if cfg.data.source == "generate" else None
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, tier in enumerate(shipping.tiers(args.tiers, cfg)):
            r = measure_tier(model_path, cfg, tier, args.count, args.seed + i, seen, Path(tmp))
            print(json.dumps({k: v for k, v in r.items() if k != "exact_accuracy_per_step"}), flush=True)
            results.append(r)
    write_card(args.out / f"{args.name}.md", name=args.name, cfg=cfg, run=args.run, ckpt=ckpt,
               model_path=model_path, command=command, tiers=results, train_s=training_time_s(args.run),
               targets=json.loads(args.targets), notes=args.notes)
    atomic_write_text(args.out / f"{args.name}.eval.json", json.dumps(results, indent=1) + "\n")
    print(f"wrote {model_path} and {args.out / (args.name + '.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
