"""Speed side by side, interleaved A/B in one run: the engine against the reference's own model code (a
TinyRecursiveModels checkout), and this code against an older checkout of itself or other training settings.

    bench/vs_reference.py infer --reference CHECKOUT [--batches 1 8 64]
    bench/vs_reference.py train --reference CHECKOUT [--old OLD_CHECKOUT] [--presets paper-sudoku-extreme,...]
    bench/vs_reference.py train --variant micro_batch=64 [--variant micro_batch=8] --presets cpu-sudoku9
    bench/vs_reference.py train --presets cpu-mazehard20 --set data.size=30 --batch 32 --variant micro_batch=32

`infer`: one supervision step of the paper Sudoku config (same weights, dtype, threads), ours as the window runs it
(`engine.inference.solve_steps`), the reference as its evaluation does (the ACT model in eval mode under
inference_mode), taken in turns; then batch 1 against its FLOP floor (the step's matrix-product FLOPs at the matmul
peak, measured again in every round).

`train`: one optimiser step (forward, loss, backward, optimiser, EMA) of each preset's config at the given batch.
Each contender is its own process, held between steps, so that one step of each runs in turn: ours runs the real
training loop (`trainers.loop.train`, stopped after every step by its metrics callback), `--old` the same loop of an
older checkout (`git worktree add /tmp/old COMMIT`), the reference `ReferenceTrainer` (bench/reference_code.py) on
the same weights and batches; `--variant KEY=VALUE` runs this code again with other training settings. Maze presets
train on generated mazes (relabelling them costs what it costs in training), others on random puzzles. Each worker
also reports its peak resident memory. Steps are timed in CPU seconds of their process (wall time is printed
beside): on a shared machine wall time mostly measures the neighbours. A busy machine still slows neighbouring steps
alike (caches, memory bandwidth), so the ratio of a round is steadier than either time; it is printed as the median
over rounds with the range, next to the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn) -> float:
    """CPU seconds of this process spent in fn (on a shared machine, wall time mostly measures the neighbours)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def spread(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"


# ---- workers: one training contender per process ------------------------------------------------------------
def random_dataset(cfg, code_root: Path):
    """Random puzzles of the preset's shape (speed does not depend on the content), the same in every process."""
    import torch

    sys.path.insert(0, str(code_root))
    from trainers.data import MemoryDataset, make_encoding

    kind, n = cfg.data.kind, cfg.data.size
    vocab = n + 2 if kind == "sudoku" else 6
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(1, vocab, (256, n * n), generator=g)
    labels = torch.randint(2 if kind == "sudoku" else 1, vocab, (256, n * n), generator=g)
    return MemoryDataset(inputs, labels, make_encoding(kind, n, n, vocab, n * n))


def training_dataset(cfg, code_root: Path):
    """Mazes as training generates them (a pure function of the batch index: the same in every process), since
    training relabels each towards its nearest shortest path, a cost that depends on the mazes; other puzzles
    random."""
    if cfg.data.kind != "maze":
        return random_dataset(cfg, code_root)
    sys.path.insert(0, str(code_root))
    from trainers.data import MazeDataset

    return MazeDataset(cfg.data, cfg.seed)


def worker_config(args):
    from trainers.presets import load_preset
    from trainers.run import apply_overrides

    preset = apply_overrides(load_preset(args.preset), args.set)  # dotted keys, as `trm-lab train --set` takes
    model = dict(preset.model, **json.loads(args.model_overrides))
    overrides = dict(model=model, batch_size=args.batch, steps=10**6, eval_every=0, log_every=1,
                     checkpoint_every=10**9, threads=args.threads, device="cpu")
    if args.compile is not None:
        overrides["compile"] = args.compile == "on"
    return preset.with_overrides(**overrides)


def wait_for_go() -> None:
    line = sys.stdin.readline().strip()
    if line != "go":
        os._exit(0)


def run_worker(args) -> None:
    code = Path(args.code).resolve()
    sys.path.insert(0, str(code))
    import torch

    torch.set_num_threads(args.threads)
    cfg = worker_config(args)
    ds = training_dataset(cfg, code)
    if args.reference:
        sys.path.insert(0, str(ROOT))
        from bench.reference_code import ReferenceTrainer
        from engine.model import TRM
        from trainers.loop import resolve_model_config

        torch.manual_seed(cfg.seed)  # as trainers.loop.train builds its model: the same weights
        ours = TRM(resolve_model_config(cfg, ds))
        trainer = ReferenceTrainer.build(Path(args.reference), ours, cfg.batch_size, lr=cfg.lr,
                                         emb_lr=cfg.puzzle_emb_lr, weight_decay=cfg.weight_decay,
                                         emb_weight_decay=cfg.puzzle_emb_weight_decay, ema_rate=cfg.ema or 0.999,
                                         loss=cfg.loss)
        print("ready", flush=True)
        index = 0
        while True:
            wait_for_go()
            b = ds.batch(index, cfg.batch_size)
            start, cpu = time.perf_counter(), time.process_time()
            trainer.step(b.inputs, b.labels, b.puzzle_ids)
            print(f"step {time.perf_counter() - start:.6f} {time.process_time() - cpu:.6f} {peak_rss_mb():.0f}",
                  flush=True)
            index += 1
    from trainers.loop import train

    cpu = [0.0]

    def after_step(row: dict) -> None:  # the loop's timer restarts after this returns
        if row.get("split") == "train":
            now = time.process_time()  # CPU time of the step (its data thread included), not of the wait
            print(f"step {cfg.batch_size / row['samples_per_s']:.6f} {now - cpu[0]:.6f} {peak_rss_mb():.0f}",
                  flush=True)
            wait_for_go()
            cpu[0] = time.process_time()

    print("ready", flush=True)
    wait_for_go()
    cpu[0] = time.process_time()
    train(cfg, ds, None, on_metrics=after_step, handle_signals=False)


class Contender:
    def __init__(self, name: str, argv: list[str]):
        env = dict(os.environ, PYTHONPATH="")
        self.name = name
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "worker", *argv], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._expect("ready")

    def _expect(self, word: str) -> str:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name}: the worker ended (exit code {self.proc.wait()})")
            if line.startswith(word):
                return line

    def step(self) -> tuple[float, float]:
        """(wall, CPU) seconds of one step; the worker's peak memory so far goes to self.peak_mb."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        _, wall, cpu, peak = self._expect("step").split()
        self.peak_mb = float(peak)
        return float(wall), float(cpu)

    def close(self) -> None:
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=60)


def train_side_by_side(args) -> list[dict]:
    results = []
    for preset in args.presets.split(","):
        common = ["--preset", preset, "--batch", str(args.batch), "--threads", str(args.threads),
                  *(["--compile", args.compile] if args.compile else []),
                  *(f"--set={item}" for item in args.set)]
        contenders = [Contender("ours", [*common, "--code", str(ROOT)])]
        if args.old:
            contenders.append(Contender("old", [*common, "--code", str(Path(args.old).resolve())]))
        for variant in args.variant:  # this code with other training settings, e.g. micro_batch=64
            contenders.append(Contender(variant, [*common, "--code", str(ROOT),
                                                  *(f"--set={pair}" for pair in variant.split(","))]))
        ref_overrides = args.reference_overrides.get(preset, {})
        if args.reference:
            if ref_overrides:  # the reference lacks a feature: ours runs the same config too
                contenders.append(Contender("ours (as ref)", [*common, "--code", str(ROOT), "--model-overrides",
                                                              json.dumps(ref_overrides)]))
            contenders.append(Contender("reference", [*common, "--code", str(ROOT), "--reference",
                                                      str(Path(args.reference).resolve()), "--model-overrides",
                                                      json.dumps(ref_overrides)]))
        times: dict[str, list[float]] = {c.name: [] for c in contenders}  # CPU seconds per step
        walls: dict[str, list[float]] = {c.name: [] for c in contenders}
        rounds = args.rounds
        for r in range(args.warmup + rounds):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for c in order:
                wall, cpu = c.step()
                print(f"  round {r}{' (warm-up)' if r < args.warmup else ''} {c.name}: {cpu:.1f} CPU-s, "
                      f"wall {wall:.1f} s", file=sys.stderr, flush=True)
                if r >= args.warmup:
                    times[c.name].append(cpu)
                    walls[c.name].append(wall)
        for c in contenders:
            c.close()
        row = {"preset": preset, "batch": args.batch, "threads": args.threads, "rounds": rounds,
               "cpu_s_per_step": {k: statistics.median(v) for k, v in times.items()},
               "wall_s_per_step": {k: statistics.median(v) for k, v in walls.items()}, "cpu_s": times, "wall_s": walls,
               "peak_rss_mb": {c.name: c.peak_mb for c in contenders}}
        ours = times["ours (as ref)"] if "ours (as ref)" in times else times["ours"]
        if "reference" in times:
            row["vs_reference"] = [a / b for a, b in zip(times["reference"], ours, strict=True)]
        if "old" in times:
            row["vs_old"] = [a / b for a, b in zip(times["old"], times["ours"], strict=True)]
        for variant in args.variant:
            row[f"vs_{variant}"] = [a / b for a, b in zip(times[variant], times["ours"], strict=True)]
        results.append(row)
        line = " ".join(f"{k} {1000 * v:,.0f} ms ({args.batch / v:,.1f} puzzle-steps/CPU-s, wall "
                        f"{1000 * row['wall_s_per_step'][k]:,.0f} ms, peak RSS {row['peak_rss_mb'][k]:,.0f} MB)"
                        for k, v in row["cpu_s_per_step"].items())
        ratios = "".join(f"   {k.replace('vs_', 'speed-up vs ')} {spread(row[k])}" for k in
                         ("vs_reference", "vs_old", *(f"vs_{v}" for v in args.variant)) if k in row)
        print(f"{preset:<22} batch {args.batch}: {line}{ratios}   load {loadavg()}", flush=True)
    return results


# ---- inference -----------------------------------------------------------------------------------------------
def infer_side_by_side(args) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    import torch

    from bench.engine import CONFIGS, matmul_peak, step_flops
    from bench.reference_code import import_reference, load_ours_into, reference_arch
    from engine.inference import SolveOptions, solve_steps
    from engine.model import TRM

    torch.set_num_threads(args.threads)
    trm, *_ = import_reference(Path(args.reference))
    cfg, _ = CONFIGS["sudoku-paper (mlp_t)"]
    torch.manual_seed(0)
    ours = TRM(cfg).eval()
    print(f"matmul peak float32, {args.threads} thread(s): {matmul_peak(torch.float32):.1f} GFLOP/s", flush=True)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)

    def peak_now() -> float:  # GFLOP/s of a large product right now (a shared machine's peak moves)
        return 2 * 1024**3 / min(timed(lambda: a @ b) for _ in range(3)) / 1e9
    results = []
    for batch in args.batches:
        ref = trm.TinyRecursiveReasoningModel_ACTV1(reference_arch(cfg, batch, "float32")).eval()
        load_ours_into(ref, ours)
        g = torch.Generator().manual_seed(batch)
        data = {"inputs": torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len), generator=g),
                "labels": torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len), generator=g),
                "puzzle_identifiers": torch.zeros(batch, dtype=torch.int32)}
        ids = data["puzzle_identifiers"].long()

        def ref_step(ref=ref, data=data):
            with torch.inference_mode():
                ref(ref.initial_carry(data), data)

        def our_step(data=data, ids=ids):
            for _ in solve_steps(ours, data["inputs"], ids, SolveOptions(max_steps=1, device="cpu")):
                pass

        ref_step(), our_step()  # warm-up
        r, o, floors = [], [], []
        for i in range(args.reps.get(batch, 3)):
            for run in ((ref_step, our_step) if i % 2 == 0 else (our_step, ref_step)):
                (r if run is ref_step else o).append(timed(run))
            floors.append(step_flops(cfg, batch) / (peak_now() * 1e9))
        ratios = [a / b for a, b in zip(r, o, strict=True)]
        over_floor = [a / b for a, b in zip(o, floors, strict=True)]
        ref_over_floor = [a / b for a, b in zip(r, floors, strict=True)]  # the most any speed-up can be
        row = {"batch": batch, "reference_s": statistics.median(r), "ours_s": statistics.median(o),
               "speedup": ratios, "flop_floor_s": statistics.median(floors), "ours_over_floor": over_floor,
               "reference_over_floor": ref_over_floor}
        if args.profile:
            row["profile"] = {name: profile_step(run) for name, run in (("reference", ref_step), ("ours", our_step))}
        results.append(row)
        print(f"paper Sudoku float32 batch {batch:>3}: reference {1000 * row['reference_s']:9.1f} ms/step, "
              f"ours {1000 * row['ours_s']:9.1f} ms/step, speed-up {spread(ratios)}; ours over the FLOP floor "
              f"{spread(over_floor)}, the reference's {spread(ref_over_floor)} "
              f"(floor {1000 * row['flop_floor_s']:.1f} ms at the peak of each round)   "
              f"load {loadavg()}", flush=True)
        for name, shares in row.get("profile", {}).items():
            print(f"    {name} (torch.profiler, share of self CPU time): "
                  + ", ".join(f"{op} {100 * share:.1f}%" for op, share in shares.items()), flush=True)
    return results


# The profiler's names for matrix products (attention's fused kernel is one too), here and in bench/train_profile.py
MATMUL = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention",
          "aten::_scaled_dot_product_flash_attention_for_cpu",
          "aten::_scaled_dot_product_flash_attention_for_cpu_backward")


def profile_step(run) -> dict[str, float]:
    """Shares of one step's self CPU time: matrix products together, then the largest other operations."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    shares = {"matrix products": sum(e.self_cpu_time_total for e in events if e.key in MATMUL) / total}
    others = sorted((e for e in events if e.key not in MATMUL), key=lambda e: -e.self_cpu_time_total)
    shares.update((e.key.removeprefix("aten::"), e.self_cpu_time_total / total) for e in others[:4])
    return shares


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    inf = sub.add_parser("infer")
    inf.add_argument("--reference", required=True, type=Path, metavar="CHECKOUT")
    inf.add_argument("--batches", nargs="*", type=int, default=[1, 8, 64])
    inf.add_argument("--threads", type=int, default=1)
    inf.add_argument("--profile", action="store_true", help="also profile one step of each side per batch")
    inf.add_argument("--json", type=Path, help="also write the results here")
    tr = sub.add_parser("train")
    tr.add_argument("--reference", type=Path, metavar="CHECKOUT")
    tr.add_argument("--old", type=Path, metavar="CHECKOUT", help="an older checkout of this project")
    tr.add_argument("--presets", default="cpu-sudoku9,cpu-maze15,paper-sudoku-extreme")
    tr.add_argument("--batch", type=int, default=64)
    tr.add_argument("--threads", type=int, default=1)
    tr.add_argument("--rounds", type=int, default=4, help="timed rounds per preset")
    tr.add_argument("--warmup", type=int, default=1, help="untimed rounds first (compilation, allocator)")
    tr.add_argument("--compile", choices=["on", "off"], help="override the presets' compile setting (ours, old)")
    tr.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                    help="also this code with these training settings (JSON values), e.g. micro_batch=64; repeatable")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a training setting for every contender (dotted keys: data.size=30); repeatable")
    tr.add_argument("--json", type=Path, help="also write the results here")
    wk = sub.add_parser("worker")
    wk.add_argument("--code", required=True)
    wk.add_argument("--preset", required=True)
    wk.add_argument("--batch", type=int, required=True)
    wk.add_argument("--threads", type=int, default=1)
    wk.add_argument("--reference")
    wk.add_argument("--model-overrides", default="{}")
    wk.add_argument("--set", action="append", default=[])
    wk.add_argument("--compile", choices=["on", "off"])
    args = ap.parse_args()
    if args.mode == "worker":
        run_worker(args)
        return 0
    print(f"{' '.join(sys.argv[1:])}\nload average at start {loadavg()} ({os.cpu_count()} cores)", flush=True)
    start = time.perf_counter()
    if args.mode == "infer":
        args.reps = {1: 9, 8: 5, 64: 3}
        results = infer_side_by_side(args)
    else:
        args.reference_overrides = {"cpu-maze15": {"pos_encodings": "rope"}, "cpu-maze9": {"pos_encodings": "rope"},
                                    "cpu-mazehard12": {"pos_encodings": "rope"}}
        results = train_side_by_side(args)
    print(f"total {time.perf_counter() - start:.0f} s, load average at end {loadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv[1:], "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
