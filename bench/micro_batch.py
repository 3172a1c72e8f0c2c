"""How large a training micro-batch should be on this CPU: one ACT training step (forward, loss, backward:
`trainers.act.act_step`, with the dataset's relabelling) of a preset's model at its batch size, split into
micro-batches of several sizes, timed in CPU seconds in interleaved turns within one process (every size sees the
same neighbours), from the same carry.

    bench/micro_batch.py [--presets cpu-sudoku9,cpu-maze15,cpu-mazehard12] [--sizes 0,4,8,16,32,64] [--rounds 5]
                         [--compile on|off]

Size 0 is the automatic choice (`trainers.act.micro_batch_rows`); the preset's batch size is the whole batch at once.
Prints the median CPU ms per step of each size and its speed-up over the whole batch (median and range over rounds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch._dynamo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.vs_reference import loadavg, random_dataset  # noqa: E402
from engine.architectures import build_model  # noqa: E402
from engine.model import compile_network  # noqa: E402
from trainers.act import Carry, act_step, exploration_min_steps, micro_batch_rows  # noqa: E402
from trainers.data import MazeDataset  # noqa: E402
from trainers.loop import resolve_model_config  # noqa: E402
from trainers.presets import load_preset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sweep(preset: str, sizes: list[int], rounds: int, batch: int | None, compile_: str | None) -> None:
    cfg = load_preset(preset)
    if compile_:
        cfg = cfg.with_overrides(compile=compile_ == "on")
    B = batch or cfg.batch_size
    # Mazes: real generated ones, since training relabels every micro-batch towards its nearest shortest path (a
    # cost per call); other puzzles: random ones of the right shape (speed does not depend on the content).
    ds = MazeDataset(cfg.data, cfg.seed) if cfg.data.kind == "maze" else random_dataset(cfg, ROOT)
    torch.manual_seed(cfg.seed)
    model = build_model(resolve_model_config(cfg, ds)).train()
    fwd = compile_network(model) if cfg.compile else model
    b = ds.batch(0, B)
    gen = torch.Generator().manual_seed(0)
    min_steps = exploration_min_steps(gen, B, model.cfg.halt_max_steps, model.cfg.halt_exploration_prob)
    seq = model.cfg.total_len
    auto = micro_batch_rows(B, seq, torch.device("cpu"))
    kw = dict(loss=cfg.loss, q_loss_weight=cfg.q_loss_weight, min_steps=min_steps, grad_scale=1 / B, fwd=fwd,
              relabel=getattr(ds, "relabel", None))
    start, _ = act_step(model, Carry.empty(model, b), b, **kw)  # a carry one step in (y, z no longer initial)
    start.halted[: B // 2] = False  # half the slots continue, half take a new puzzle

    def step(rows: int) -> float:
        model.zero_grad(set_to_none=True)
        t = time.process_time()
        act_step(model, start, b, micro_batch=rows, **kw)
        return time.process_time() - t

    parts = -(-B // auto)
    labels = {s: (f"auto ({parts}x{B // parts})" if s == 0 else str(min(s, B))) for s in sizes}
    for s in sizes:  # warm-up: compiles each shape
        step(s)
    times: dict[int, list[float]] = {s: [] for s in sizes}
    for r in range(rounds):
        for s in sizes if r % 2 == 0 else sizes[::-1]:
            times[s].append(step(s))
    whole = times[B] if B in times else None
    print(f"{preset} (batch {B}, {seq} positions, compile {cfg.compile}), load {loadavg()}:")
    for s in sizes:
        ratio = ""
        if whole is not None and s != B:
            r = [w / t for w, t in zip(whole, times[s], strict=True)]
            ratio = f"   speed-up {statistics.median(r):.2f}x [{min(r):.2f}-{max(r):.2f}]"
        print(f"  micro-batch {labels[s]:>9}: {1000 * statistics.median(times[s]):8.0f} CPU-ms/step{ratio}",
              flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="cpu-sudoku9,cpu-maze15,cpu-mazehard12")
    ap.add_argument("--sizes", default="0,4,8,16,32,64", help="micro-batch sizes (0 = automatic)")
    ap.add_argument("--batch", type=int, help="batch size (default: each preset's)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", choices=["on", "off"], help="override the presets' compile setting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch._dynamo.config.recompile_limit = 64  # a graph per micro-batch shape
    for preset in args.presets.split(","):
        batch = args.batch or load_preset(preset).batch_size
        sizes = sorted({min(int(s), batch) for s in args.sizes.split(",")} | {batch})
        sweep(preset, sizes, args.rounds, args.batch, args.compile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
