"""Adapt TRM to one ARC task on a CPU: learn its demonstrations under augmentation, then vote over the test views.

This is what the reference does for every evaluation task (its training set contains each evaluation task's
demonstration pairs under ~1000 augmentations, each with its own puzzle embedding), shrunk to one task and a time
budget: either a fresh tiny TRM learns the task from scratch, or a base checkpoint's puzzle embeddings (and, unless
frozen, all its weights) are fitted to it (the reference's `freeze_weights`). Training is the training loop
(trainers.loop.train) on the augmented task (trainers.arc_data.AugmentedTask): every optimiser step is one ACT
supervision step of a batch whose finished sequences are replaced by fresh samples, with the settings measured
best in minutes on a CPU (`train_config`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from engine.config import TRMConfig
from engine.inference import SolveOptions, solve_steps
from engine.model import TRM
from engine.puzzles import arc
from trainers import arc_data, loop
from trainers.arc_vote import Candidate, ViewAnswer, attempts, is_solved, vote
from trainers.config import DataConfig, TrainConfig


class AdaptError(RuntimeError):
    """Adaptation cannot run as asked (e.g. the base model's canvas is too small for the task)."""


AUTO = "auto"
BUNDLED_BASE = "arc-base"


@dataclass
class AdaptOptions:
    budget_s: float = 120.0  # training budget, in seconds of `clock`
    # "wall", or "cpu": this process's CPU seconds, all threads (comparable runs on a shared machine)
    clock: str = "wall"
    max_train_steps: int | None = None  # optional cap on optimiser steps (tests, benchmarks)
    # Checkpoint to start from; None: a fresh tiny TRM; AUTO: the bundled arc-base when the task fits its canvas.
    base: str | Path | None = AUTO
    # With a base, True trains only the puzzle embeddings (the reference's freeze_weights); fine-tuning every weight
    # fit 9 of 10 unseen tasks better in 120 CPU-s (bench/results/arc-fit10-base-b120.json vs arc-eval50-b120.json).
    freeze_weights: bool = False
    num_views: int = 32  # identity + distinct dihedral x colour augmentations (the reference uses 1000)
    translate: bool = True
    canvas: int | None = None  # None: the task's largest grid + 1, rounded up (a base model fixes its own)
    # Samples per optimiser step; None: 32 on canvases up to 12 x 12, fewer on larger ones so a step holds at most
    # 32 x 12 x 12 cells (`batch_for`). A 30 x 30 task's step took 4.5 s at 32, leaving 27 steps in 120 CPU-s.
    batch_size: int | None = None
    lr: float = 3e-3  # far above the reference's 1e-4: minutes, not days (measured on small tasks, see tests)
    puzzle_emb_lr: float = 3e-2
    weight_decay: float = 0.1
    warmup_steps: int = 20
    loss: str = "stablemax"
    # The fresh model: the paper's architecture at CPU size.
    hidden_size: int = 64
    num_heads: int = 4
    L_layers: int = 2
    H_cycles: int = 2
    L_cycles: int = 2
    # One supervision step per sample: at 30 CPU-s, 1 step solved 3 of 6 simple training tasks, 2 steps 2, 4 steps 1
    # (bench/arc_tune.py, bench/results/arc-tune-halt.txt): in minutes, fresh samples teach more than refinement.
    halt_max_steps: int = 1
    mixer: str = "attention"
    predict_steps: int | None = None  # supervision steps at prediction (None: halt_max_steps)
    seed: int = 0
    # torch intra-op threads (None: leave as is). One: the tiny model's matrices gain nothing from more, and on a busy
    # 2-core machine 2 threads ran 2 optimiser steps in 15 s where 1 thread ran 35.
    threads: int | None = 1
    progress_every_s: float = 0.5


@dataclass
class AdaptProgress:
    step: int
    elapsed_s: float
    budget_s: float
    loss: float
    accuracy: float  # token accuracy on the demonstration pairs (labelled cells incl. end-of-grid markers)
    exact_accuracy: float  # fraction of sequences whose every cell is right
    mean_steps: float  # supervision steps taken by sequences that halted in this window


@dataclass
class TestPrediction:
    index: int
    candidates: list[Candidate]
    attempts: list[np.ndarray]  # attempt 1, attempt 2
    solved: bool | None  # an attempt equals the known solution (None when unknown)


@dataclass
class AdaptResult:
    task_id: str
    predictions: list[TestPrediction]
    canvas: int
    num_views: int
    train_steps: int
    train_s: float
    predict_s: float
    base: str | None
    history: list[AdaptProgress] = field(default_factory=list)
    stopped: bool = False  # cancelled before the budget ran out
    train_cpu_s: float = 0.0

    @property
    def score(self) -> float | None:
        """The task's pass@2 as the reference counts it: fraction of its test inputs answered right."""
        known = [p.solved for p in self.predictions if p.solved is not None]
        return None if not known else sum(known) / len(known)

    def summary(self) -> dict:
        last = self.history[-1] if self.history else None
        return {
            "task_id": self.task_id,
            "score": self.score,
            "solved": [p.solved for p in self.predictions],
            "votes": [[c.votes for c in p.candidates[:2]] for p in self.predictions],
            "canvas": self.canvas,
            "views": self.num_views,
            "train_steps": self.train_steps,
            "train_s": round(self.train_s, 2),
            "train_cpu_s": round(self.train_cpu_s, 2),
            "predict_s": round(self.predict_s, 2),
            "base": self.base,
            "final": asdict(last) if last else None,
        }


@dataclass
class Adapted:
    """A model fitted to one task together with the augmented task it was fitted on."""

    model: TRM
    data: arc_data.AugmentedTask
    base: str | None
    train_steps: int = 0
    train_s: float = 0.0
    train_cpu_s: float = 0.0
    history: list[AdaptProgress] = field(default_factory=list)
    stopped: bool = False


# ---- model -----------------------------------------------------------------------------------------------------
def fresh_config(seq_len: int, num_identifiers: int, opts: AdaptOptions) -> TRMConfig:
    return TRMConfig(
        vocab_size=12,
        seq_len=seq_len,
        hidden_size=opts.hidden_size,
        num_heads=opts.num_heads,
        L_layers=opts.L_layers,
        H_cycles=opts.H_cycles,
        L_cycles=opts.L_cycles,
        halt_max_steps=opts.halt_max_steps,
        mixer=opts.mixer,  # type: ignore[arg-type]
        pos_encodings="rope",
        puzzle_emb_ndim=opts.hidden_size,
        puzzle_emb_len=1,
        num_puzzle_identifiers=num_identifiers,
        forward_dtype="float32",
    )


def _from_base(base: str | Path, task: arc.ArcTask) -> tuple[TRM, int, str] | None:
    """The base model with a fresh puzzle-embedding table for this task's views (rows start at the base's mean).
    With AUTO: the bundled base, or None (start fresh) when it is missing or the task does not fit its canvas."""
    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.registry import resolve_model

    auto = base == AUTO
    try:
        loaded = load_checkpoint(resolve_model(BUNDLED_BASE if auto else str(base)))
    except (CheckpointError, OSError):
        if auto:
            return None
        raise
    if loaded.encoding.kind != "arc":
        raise AdaptError(f"{loaded.path}: a {loaded.encoding.kind} model, not an ARC model")
    canvas = loaded.encoding.rows
    if arc_data.task_max_dim(task) > canvas:
        if auto:
            return None
        raise AdaptError(
            f"{loaded.path}: canvas {canvas} is smaller than task {task.task_id}'s largest grid "
            f"({arc_data.task_max_dim(task)})"
        )
    return loaded.model, canvas, loaded.name


def _rebuild_embeddings(model: TRM, num_identifiers: int) -> TRM:
    cfg = replace(model.cfg, num_puzzle_identifiers=num_identifiers, forward_dtype="float32")
    fresh = TRM(cfg)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("puzzle_emb.")}
    fresh.load_state_dict(state, strict=False)
    if cfg.puzzle_emb_ndim > 0:
        old = model.puzzle_emb.weight.data
        mean = old[1:].mean(0) if old.shape[0] > 1 else old[0]
        fresh.puzzle_emb.weight.data.copy_(mean.expand_as(fresh.puzzle_emb.weight))
        fresh.puzzle_emb.weight.data[0].zero_()
    return fresh.float()


def prepare(task: arc.ArcTask, opts: AdaptOptions) -> Adapted:
    """Build the augmented task and the model to fit (fresh, or the base with new puzzle embeddings)."""
    torch.manual_seed(opts.seed)
    picked = None if opts.base is None else _from_base(opts.base, task)
    if picked is not None:
        base_model, canvas, name = picked
        data = arc_data.build(task, num_views=opts.num_views, canvas=canvas, seed=opts.seed, translate=opts.translate)
        if base_model.cfg.puzzle_emb_ndim <= 0:
            raise AdaptError(f"{name}: the base model has no puzzle embedding to adapt")
        return Adapted(_rebuild_embeddings(base_model, data.num_identifiers), data, name)
    data = arc_data.build(task, num_views=opts.num_views, canvas=opts.canvas, seed=opts.seed, translate=opts.translate)
    return Adapted(TRM(fresh_config(data.seq_len, data.num_identifiers, opts)), data, None)


# ---- training --------------------------------------------------------------------------------------------------
STEP_CELLS = 32 * 12 * 12  # cells per optimiser step on large canvases
MIN_BATCH = 8
UNBOUNDED = 10**12  # optimiser steps when only the budget or a stop request ends training


def batch_for(canvas: int) -> int:
    """Samples per step on this canvas: attention costs grow with the square of the cells, so large tasks trade
    batch for optimiser steps (bench/arc_speed.py measures steps per CPU-second)."""
    return max(MIN_BATCH, min(32, STEP_CELLS // (canvas * canvas)))


def train(
    adapted: Adapted,
    opts: AdaptOptions,
    on_progress: Callable[[AdaptProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Adapted:
    """The training loop (trainers.loop.train) on the augmented task until the budget, the step cap or a stop request
    (asked before every step); progress comes from its metrics rows, one per `progress_every_s`."""
    if opts.clock not in ("wall", "cpu"):
        raise AdaptError(f"clock must be 'wall' or 'cpu', not {opts.clock!r}")
    steps = UNBOUNDED if opts.max_train_steps is None else opts.max_train_steps - adapted.train_steps
    if steps > 0:
        done = adapted.train_steps

        def report(row: dict) -> None:
            progress = _progress(row, done, opts)
            adapted.history.append(progress)
            if on_progress is not None:
                on_progress(progress)

        wall_start, cpu_start = time.monotonic(), time.process_time()
        result = loop.train(train_config(adapted, opts, steps), adapted.data, budget_s=opts.budget_s,
                            budget_clock=opts.clock, on_metrics=report, init_model=adapted.model,
                            stop_event=None if should_stop is None else _StopRequest(should_stop),
                            handle_signals=False)
        adapted.model, adapted.stopped = result.model, result.state == "stopped"
        adapted.train_steps += result.step
        adapted.train_s += time.monotonic() - wall_start
        adapted.train_cpu_s += time.process_time() - cpu_start
    adapted.model.eval()
    return adapted


def train_config(adapted: Adapted, opts: AdaptOptions, steps: int) -> TrainConfig:
    """The training loop's configuration for adaptation: the measured defaults of AdaptOptions, AdamW on the puzzle
    embeddings (the whole table), no gradient clipping, no EMA, no evaluation or checkpoints, CPU."""
    return TrainConfig(
        preset="arc-adapt", data=DataConfig(kind="custom", prefetch=2), steps=steps,
        batch_size=opts.batch_size or batch_for(adapted.data.canvas), lr=opts.lr, puzzle_emb_lr=opts.puzzle_emb_lr,
        weight_decay=opts.weight_decay, puzzle_emb_weight_decay=opts.weight_decay, puzzle_emb_optimizer="adamw",
        freeze_weights=adapted.base is not None and opts.freeze_weights, warmup_steps=opts.warmup_steps,
        schedule="constant", grad_clip=None, loss=opts.loss, ema=None, eval_every=0, checkpoint_every=0, log_every=0,
        log_every_s=opts.progress_every_s, seed=opts.seed, device="cpu", threads=opts.threads)


@dataclass
class _StopRequest:
    """`should_stop()` as the `is_set()` the training loop asks."""

    asked: Callable[[], bool]

    def is_set(self) -> bool:
        return self.asked()


def _progress(row: dict, done: int, opts: AdaptOptions) -> AdaptProgress:
    """A training-loop metrics row (averages since the previous row) as adaptation progress; `done`: steps before."""
    return AdaptProgress(
        step=done + row["step"],
        elapsed_s=row["cpu_s"] if opts.clock == "cpu" else row["elapsed_s"],
        budget_s=opts.budget_s,
        loss=row["loss"],
        accuracy=row["accuracy"],
        exact_accuracy=row["exact_accuracy"],
        mean_steps=row["mean_steps"] if row["halted"] else math.nan,
    )


# ---- prediction ------------------------------------------------------------------------------------------------
def predict(adapted: Adapted, opts: AdaptOptions | None = None, chunk: int = 64) -> list[TestPrediction]:
    """Answer every test input under every view, map each answer back, vote; attempts are the top two.

    Like the reference evaluator, every view runs all supervision steps and its last answer votes."""
    opts = opts or AdaptOptions()
    model, data = adapted.model, adapted.data
    model.eval()
    n_steps = opts.predict_steps or model.cfg.halt_max_steps
    inputs, ids, where = data.test_batch()
    answers: dict[int, list[ViewAnswer]] = {t: [] for t in range(len(data.task.test))}
    # Inner cycles too: with one supervision step the recursion is still there to watch (T latent recursions).
    options = SolveOptions(max_steps=n_steps, device="cpu", dtype="float32", inner_cycles=True)
    T = model.cfg.H_cycles
    for lo in range(0, len(where), chunk):
        per_step = [
            (step.tokens.numpy(), step.halt_prob.numpy(),
             f"step {step.index}" if step.cycle is None else f"step {step.index}, recursion {step.cycle} of {T}")
            for step in solve_steps(model, inputs[lo : lo + chunk], ids[lo : lo + chunk], options)
        ]
        names = [name for _, _, name in per_step]
        for row in range(len(per_step[0][1])):
            v, t = where[lo + row]
            aug = data.views[v].augmentation
            grids = [_decode_back(tokens[row], data.canvas, aug) for tokens, _, _ in per_step]
            halts = [float(h[row]) for _, h, _ in per_step]
            answers[t].append(ViewAnswer(data.views[v].name, grids[-1], halts[-1], grids, halts, names))
    results = []
    for t, pair in enumerate(data.task.test):
        candidates = vote(answers[t])
        tries = attempts(candidates)
        solution = None if pair.output is None else np.asarray(pair.output)
        results.append(TestPrediction(t, candidates, tries, is_solved(tries, solution)))
    return results


def _decode_back(tokens: np.ndarray, canvas: int, aug) -> np.ndarray:
    grid = np.asarray(arc.decode(tokens, canvas=canvas), dtype=np.uint8)
    if grid.size == 0:
        return grid.reshape(0, 0)
    return np.ascontiguousarray(aug.invert(grid)).astype(np.uint8)


# ---- one call for the CLI and the window ------------------------------------------------------------------------
def adapt_and_predict(
    task: arc.ArcTask,
    opts: AdaptOptions | None = None,
    on_progress: Callable[[AdaptProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> AdaptResult:
    """Fit a model to `task` within the budget and answer its test inputs (pass@2 attempts with votes and steps)."""
    opts = opts or AdaptOptions()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    adapted = prepare(task, opts)
    train(adapted, opts, on_progress, should_stop)
    t0 = time.monotonic()
    predictions = predict(adapted, opts)
    return AdaptResult(
        task_id=task.task_id,
        predictions=predictions,
        canvas=adapted.data.canvas,
        num_views=len(adapted.data.views),
        train_steps=adapted.train_steps,
        train_s=adapted.train_s,
        train_cpu_s=adapted.train_cpu_s,
        predict_s=time.monotonic() - t0,
        base=adapted.base,
        history=adapted.history,
        stopped=adapted.stopped,
    )


def adapt_in_child(task: arc.ArcTask, opts: AdaptOptions, messages, stop) -> None:
    """Entry point of the adaptation process the window starts (training runs in its own process, never beside the
    event loop): progress, then the result or an error, go to `messages` as ("progress" | "result" | "error", x), an
    error as (exception type name, message) for the window to word; `stop` (a multiprocessing Event) asks the
    trainer to stop after its current step and answer."""
    try:
        result = adapt_and_predict(task, opts, lambda p: messages.put(("progress", p)), stop.is_set)
    except Exception as exc:  # noqa: BLE001 - whatever happens reaches the user as one line
        messages.put(("error", (type(exc).__name__, str(exc))))
    else:
        messages.put(("result", result))
