"""Step-by-step solving: one `Step` per supervision step, optionally one per inner T-cycle too.

The GUI, the CLI and the trainers' evaluation all read this one iterator. Work runs under `torch.inference_mode`
only while computing, never across a `yield`, so the consumer's own code between steps is unaffected.
"""

from __future__ import annotations

import copy
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from engine.architectures import Model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(name: str | torch.device = "auto") -> torch.device:
    """`auto` picks cuda, then mps, then cpu; any other name is taken as given."""
    if str(name) != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class SolveOptions:
    max_steps: int = 16  # may exceed the trained halt_max_steps (test-time scaling)
    halt_threshold: float | None = None  # a puzzle halts when sigmoid(q_halt) > this; its answer then freezes
    device: str = "auto"
    dtype: str = "float32"
    inner_cycles: bool = False  # also yield the answer after each of the T-1 earlier cycles of a step
    latent_updates: bool = False  # also yield after every low-level (z / z_L) update and every cycle, with
    # `latent_change`: the answer is read from y / z_H, so a low-level update moves the latent state, not the answer
    micro_batch: int | None = None  # puzzles per forward pass; None: 8 on CPU (cache-sized), all at once elsewhere


CPU_MICRO_BATCH = 8  # on CPU a (8 x 97 x 3072) activation stays in cache; 64 at once runs ~1.2x slower per puzzle


@dataclass
class Step:
    index: int  # 1-based supervision step
    cycle: int | None  # inner T-cycle (1..T-1), or None for the full step
    tokens: torch.Tensor  # (B, seq_len) int64
    confidence: torch.Tensor  # (B, seq_len) float32: softmax probability of the predicted token
    halt_prob: torch.Tensor  # (B,) float32 sigmoid(q_halt), or sigmoid(q_halt - q_continue) for a model that halts
    # when q_halt > q_continue (HRM; TRM with no_ACT_continue off): the model's own halting rule, as a probability
    changed: torch.Tensor  # (B, seq_len) bool: differs from the previous yielded step (the first: from the input)
    elapsed_s: float  # wall time since solving started
    halted: torch.Tensor  # (B,) bool: halting threshold crossed at or before this step
    update: int | None = None  # low-level update (1..n) within `cycle`, or None for a cycle's or a step's end
    latent_change: torch.Tensor | None = None  # (B,) with latent_updates: RMS change of the state just updated,
    # relative to its RMS (z_L after a low-level update, z_H at a cycle's end)


_RUNTIME_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runtime_model(model: Model, device: torch.device, dtype: torch.dtype) -> Model:
    """`model` itself if it already lives on `device` in `dtype`, else a cached eval-mode copy that does.

    A copy, not an in-place cast, so flipping a loaded model to bfloat16 and back never rounds its weights.
    """
    p = next(model.parameters())
    if p.device == device and p.dtype == dtype and not model.training:
        return model
    copies = _RUNTIME_COPIES.setdefault(model, {})
    key = (str(device), dtype)
    version = tuple(t._version for t in model.parameters())  # training updates bump these: re-copy then
    cached = copies.get(key)
    if cached is None or cached[1] != version:
        clone = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
        copies[key] = cached = (clone, version)
    return cached[0]


def solve_steps(
    model: Model,
    inputs: torch.Tensor | np.ndarray,
    puzzle_ids: torch.Tensor | np.ndarray | None = None,
    options: SolveOptions | None = None,
) -> Iterator[Step]:
    """Run up to `options.max_steps` supervision steps on a batch, yielding each; stops when all have halted."""
    options = options or SolveOptions()
    device = pick_device(options.device)
    if options.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {options.dtype!r}")
    net = runtime_model(model, device, DTYPES[options.dtype])
    cfg = net.cfg
    inputs = torch.as_tensor(np.asarray(inputs) if not torch.is_tensor(inputs) else inputs).long()
    if inputs.ndim == 1:
        inputs = inputs.unsqueeze(0)
    if inputs.shape[-1] != cfg.seq_len:
        raise ValueError(f"the model takes {cfg.seq_len} tokens per puzzle, got {inputs.shape[-1]}")
    if int(inputs.min()) < 0 or int(inputs.max()) >= cfg.vocab_size:
        raise ValueError(f"tokens must lie in 0..{cfg.vocab_size - 1}")
    B = inputs.shape[0]
    ids = None if puzzle_ids is None else torch.as_tensor(np.asarray(puzzle_ids)).long().view(B).to(device)
    inputs = inputs.to(device)
    start = time.perf_counter()

    with torch.inference_mode():
        x = net.embed(inputs, ids)
        y, z = net.initial_state(B)
    chunk = options.micro_batch or (CPU_MICRO_BATCH if device.type == "cpu" else B)
    active = torch.arange(B, device=device)  # rows still being refined
    tokens = inputs.clone()
    confidence = torch.zeros(B, cfg.seq_len, device=device)
    halt_prob = torch.zeros(B, device=device)
    halted = torch.zeros(B, dtype=torch.bool, device=device)
    previous = inputs

    change = torch.zeros(B, device=device) if options.latent_updates else None
    every_cycle = options.inner_cycles or options.latent_updates

    def publish(index: int, cycle: int | None, update: int | None = None) -> Step:
        nonlocal previous
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        step = Step(index, cycle, tokens.cpu().clone(), confidence.float().cpu().clone(), halt_prob.cpu().clone(),
                    (tokens != previous).cpu().clone(), time.perf_counter() - start, halted.cpu().clone(), update,
                    None if change is None else change.cpu().clone())
        previous = tokens.clone()
        return step

    def read(y_now: torch.Tensor) -> None:
        logits, q_halt, q_continue = net.read_out(y_now)
        probs = logits.float().softmax(-1)
        conf, pred = probs.max(-1)
        # The probability of halting here by the model's own rule: q_halt > 0, or q_halt > q_continue.
        halt_logit = q_halt if cfg.no_ACT_continue else q_halt - q_continue
        tokens[active], confidence[active], halt_prob[active] = pred, conf, torch.sigmoid(halt_logit)

    for index in range(1, options.max_steps + 1):
        for cycle in range(1, cfg.H_cycles + 1):
            if options.latent_updates:  # the cycle update by update, yielding after each low-level one
                updates = net.updates(x, y, z)
                for update in range(1, cfg.L_cycles + 2):
                    with torch.inference_mode():
                        level, y_new, z_new = next(updates)
                        before, after = (z, z_new) if level == "L" else (y, y_new)
                        change[active] = relative_change(before, after)
                        y, z = y_new, z_new
                    if level == "L":
                        yield publish(index, cycle, update)
            else:
                with torch.inference_mode():
                    y, z = recurse_in_chunks(net, x, y, z, chunk)
            if cycle == cfg.H_cycles or every_cycle:
                with torch.inference_mode():
                    read(y)
            if cycle < cfg.H_cycles and every_cycle:
                yield publish(index, cycle)
        if options.halt_threshold is not None:
            with torch.inference_mode():
                newly = halt_prob[active] > options.halt_threshold
                halted[active[newly]] = True
                keep = ~newly
                if not bool(keep.all()):
                    active, x, y, z = active[keep], x[keep], y[keep], z[keep]
        yield publish(index, None)
        if active.numel() == 0:
            return


def relative_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """(B,) RMS of the change over the RMS of the old state: how much an update moved a latent state."""
    diff = (after.float() - before.float()).square().mean(dim=(1, 2)).sqrt()
    return diff / before.float().square().mean(dim=(1, 2)).sqrt().clamp_min(1e-12)


def recurse_in_chunks(net: Model, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, chunk: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """One latent recursion, `chunk` puzzles at a time (puzzles never interact, so the result is the same)."""
    if x.shape[0] <= chunk:
        return net.latent_recursion(x, y, z)
    parts = [net.latent_recursion(*t) for t in zip(x.split(chunk), y.split(chunk), z.split(chunk), strict=True)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@dataclass
class GridStep:
    """One puzzle's step decoded to its grid (the puzzle's own size, not the model's canvas)."""

    index: int
    cycle: int | None
    grid: np.ndarray
    confidence: np.ndarray  # same shape as grid
    changed: np.ndarray  # same shape as grid, bool
    halt_prob: float
    elapsed_s: float
    halted: bool = False
    update: int | None = None  # low-level update within `cycle` (SolveOptions.latent_updates)
    latent_change: float | None = None


class GridCodec:
    """Puts one puzzle grid into the model's token layout and reads steps back at the puzzle's own size."""

    def __init__(self, encoding, grid: np.ndarray):
        from engine.puzzles.base import PuzzleError
        from engine.puzzles.kind import get_kind

        self.encoding, self.kind = encoding, get_kind(encoding.kind)
        grid = np.asarray(grid)
        if grid.ndim != 2:
            raise PuzzleError(f"expected a 2-D grid, got shape {grid.shape}")
        self.shape = grid.shape
        self.tokens = self.kind.encode(grid, encoding)

    def decode(self, tokens: np.ndarray, *per_cell: np.ndarray) -> tuple[np.ndarray, ...]:
        """(grid, *per_cell values cropped to the grid) for one step's tokens."""
        grid = self.kind.decode(tokens, self.encoding, self.shape)
        rows, cols = grid.shape
        return (grid, *(v.reshape(self.encoding.rows, -1)[:rows, :cols] for v in per_cell))


def solve_puzzle(loaded, grid: np.ndarray, options: SolveOptions | None = None, puzzle_id: int = 0
                 ) -> Iterator[GridStep]:
    """Encode `grid` with the model's encoding, solve it step by step, decode every step back to a grid.

    A relative2d maze model runs on the maze's own size (`LoadedModel.fitted`); for other models a smaller maze is
    padded with walls to the model's size (and cropped back); an ARC grid is put on the canvas.
    """
    grid = np.asarray(grid)
    if grid.ndim == 2:  # anything else is GridCodec's to reject
        loaded = loaded.fitted(*grid.shape)
    codec = GridCodec(loaded.encoding, grid)
    ids = torch.tensor([puzzle_id]) if loaded.config.prefix_len else None
    for step in solve_steps(loaded.model, codec.tokens[None], ids, options):
        decoded, confidence, changed = codec.decode(
            step.tokens[0].numpy(), step.confidence[0].numpy(), step.changed[0].numpy()
        )
        yield GridStep(step.index, step.cycle, decoded, confidence, changed, float(step.halt_prob[0]),
                       step.elapsed_s, bool(step.halted[0]), step.update,
                       None if step.latent_change is None else float(step.latent_change[0]))
