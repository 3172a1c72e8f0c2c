"""Think harder: K trajectories per puzzle, each up to N supervision steps, judged by the puzzle's rules.

Width comes from the puzzle's symmetries (Sudoku: digit relabelling, band/stack and row/column-within-band
permutations, transpose; mazes: the 8 dihedral transforms), each answer mapped back to the puzzle's own frame, plus
optional Gaussian noise on the initial y/z state. All trajectories of all puzzles run as one batch, so K trajectories
cost about one batched forward per step. After every step each puzzle's trajectories are ranked: an answer that obeys
the rules first, then the halting confidence, then how many trajectories agree; a puzzle stops as soon as one of its
trajectories has a valid answer (`early_exit`). A plausible answer is never lost: where a later step's answers are
all worse (a maze's route the model went on to break, or a longer one), the best earlier one is `kept`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.inference import DTYPES, GridCodec, GridStep, pick_device, recurse_in_chunks, runtime_model
from engine.puzzles.kind import get_kind


@dataclass
class ThinkOptions:
    trajectories: int = 8  # K: the first is the puzzle as given, the others symmetric views (and noise)
    max_steps: int = 32  # N: supervision steps per trajectory at most
    noise: float = 0.0  # std of Gaussian noise added to the initial y and z of every trajectory but the first
    seed: int = 0  # picks the symmetries and the noise
    early_exit: bool = True  # stop a puzzle once one of its trajectories obeys every rule
    device: str = "auto"
    dtype: str = "float32"
    micro_batch: int = 64  # rows per forward pass (the bundled models are small: larger chunks amortise overhead)


@dataclass
class ThinkStep:
    """One supervision step of one puzzle: every trajectory's answer (in the puzzle's frame) and the current pick."""

    index: int  # 1-based supervision step
    trajectories: list[GridStep]
    valid: list[bool]
    chosen: int
    reason: str
    elapsed_s: float
    final: bool = False  # the last step this puzzle runs (early exit or max_steps)
    view_names: list[str] = field(default_factory=list)  # each trajectory's view of the puzzle
    kept: GridStep | None = None  # an earlier step's plausible answer that beats all of this step's (see think_steps)
    kept_trajectory: int = 0  # ... and the trajectory it came from

    @property
    def picked(self) -> GridStep:
        """The answer this step stands by: the chosen trajectory's, or the kept one."""
        return self.kept if self.kept is not None else self.trajectories[self.chosen]

    @property
    def picked_trajectory(self) -> int:
        return self.kept_trajectory if self.kept is not None else self.chosen

    @property
    def answer(self) -> np.ndarray:
        return self.picked.grid

    @property
    def answer_plausible(self) -> bool:
        return self.kept is not None or self.valid[self.chosen]


@dataclass
class ThinkResult:
    """A puzzle's outcome: the chosen answer, which trajectory gave it and why, and the steps it took."""

    answer: np.ndarray
    valid: bool
    chosen: int
    reason: str
    steps: int
    elapsed_s: float
    view_names: list[str] = field(default_factory=list)


def choose(grids: list[np.ndarray], valid: list[bool], halt: list[float], kind: str = "sudoku"
           ) -> tuple[int, str]:
    """Rules first (of two plausible answers, the cheaper: a maze's shorter route), then halting confidence, then
    vote: (index, a sentence saying why)."""
    puzzle_kind = get_kind(kind)
    keys = [g.tobytes() for g in grids]
    votes = [keys.count(k) for k in keys]
    cost = [puzzle_kind.answer_cost(g) if v else 0 for g, v in zip(grids, valid, strict=True)]
    best = max(range(len(grids)), key=lambda i: (valid[i], -cost[i], halt[i], votes[i], -i))
    agree = f"; {votes[best]} of {len(grids)} trajectories give this answer" if len(grids) > 1 else ""
    if valid[best]:
        why = puzzle_kind.why_chosen(sum(valid), cost[best], halt[best])
    else:
        why = f"no answer obeys the rules yet; highest halting confidence ({halt[best]:.2f})"
    return best, why + agree


def think_steps(loaded, grids: list[np.ndarray], options: ThinkOptions | None = None,
                puzzle_id: int = 0) -> Iterator[list[tuple[int, ThinkStep]]]:
    """Solve several puzzles of one kind with K trajectories each; after every supervision step yield
    [(puzzle index, ThinkStep)] for the puzzles still running (a puzzle's last ThinkStep has `final`)."""
    options = options or ThinkOptions()
    if options.trajectories < 1 or options.max_steps < 1:
        raise ValueError("trajectories and max_steps must be at least 1")
    if options.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {options.dtype!r}")
    kind = loaded.encoding.kind
    puzzle_kind = get_kind(kind)
    grids = [np.asarray(g) for g in grids]
    K = options.trajectories
    rng = np.random.default_rng(options.seed)
    if not puzzle_kind.thinks:
        raise ValueError(f"think harder works on Sudoku and mazes, not {kind}")
    if not grids:
        return
    views = [puzzle_kind.views(g, K, rng) for g in grids]
    side = max(max(g.shape) for g in grids)
    loaded = loaded.fitted(side, side)  # dihedral views swap rows and columns: a square canvas fits both
    names = [[v.name for v in vs] for vs in views]
    codecs = [[GridCodec(loaded.encoding, v.forward(g)) for v in vs] for g, vs in zip(grids, views, strict=True)]
    device = pick_device(options.device)
    net = runtime_model(loaded.model, device, DTYPES[options.dtype])
    tokens = torch.as_tensor(np.stack([c.tokens for cs in codecs for c in cs])).to(device)
    rows = tokens.shape[0]
    ids = torch.full((rows,), puzzle_id, dtype=torch.long, device=device) if loaded.config.prefix_len else None
    start = time.perf_counter()
    with torch.inference_mode():
        x = net.embed(tokens, ids)
        y, z = net.initial_state(rows)
        if options.noise > 0:
            gen = torch.Generator(device="cpu").manual_seed(options.seed)
            noisy = torch.tensor([k % K != 0 for k in range(rows)], device=device)[:, None, None]
            for state in (y, z):
                state += noisy * options.noise * torch.randn(state.shape, generator=gen).to(state)
    owner = torch.arange(rows, device=device) // K  # puzzle of each row
    best: dict[int, tuple[int, int, GridStep]] = {}  # per puzzle: the cheapest plausible answer so far (cost, k, step)
    previous = [[c.tokens for c in cs] for cs in codecs]
    active = torch.arange(rows, device=device)
    cfg = net.cfg
    for index in range(1, options.max_steps + 1):
        with torch.inference_mode():
            for _ in range(cfg.H_cycles):
                y, z = recurse_in_chunks(net, x, y, z, options.micro_batch)
            logits, q_halt, q_continue = net.read_out(y)
            conf, pred = logits.float().softmax(-1).max(-1)
            # the model's own halting rule as a probability (as engine.inference reads it)
            halt = torch.sigmoid((q_halt if cfg.no_ACT_continue else q_halt - q_continue).float())
        pred, conf, halt = pred.cpu().numpy(), conf.cpu().numpy(), halt.cpu().numpy()
        elapsed = time.perf_counter() - start
        out, done = [], []
        puzzles = owner[active].cpu().numpy()
        for p in dict.fromkeys(puzzles.tolist()):
            at = np.flatnonzero(puzzles == p)  # K rows of puzzle p, in trajectory order
            steps, valid = [], []
            for k, r in enumerate(at):
                view, codec = views[p][k], codecs[p][k]
                grid_v, conf_v, changed_v = codec.decode(pred[r], conf[r], pred[r] != previous[p][k])
                previous[p][k] = pred[r]
                grid = view.back(grid_v)
                steps.append(GridStep(index, None, grid, view.back(conf_v, True), view.back(changed_v, True),
                                      float(halt[r]), elapsed, False))
                valid.append(puzzle_kind.plausible(grids[p], grid))
            chosen, reason = choose([s.grid for s in steps], valid, [s.halt_prob for s in steps], kind)
            settled = valid[chosen] and (not puzzle_kind.settles_on_halt or steps[chosen].halt_prob >= 0.5)
            final = index == options.max_steps or (options.early_exit and settled)
            cost = puzzle_kind.answer_cost(steps[chosen].grid) if valid[chosen] else None
            if cost is not None and (p not in best or cost < best[p][0]):
                best[p] = (cost, chosen, steps[chosen])
            think = ThinkStep(index, steps, valid, chosen, reason, elapsed, final, names[p])
            if p in best and (cost is None or best[p][0] < cost):
                kept_cost, think.kept_trajectory, think.kept = best[p]
                think.reason = (f"kept from step {think.kept.index}: "
                                f"{puzzle_kind.why_chosen(1, kept_cost, think.kept.halt_prob)}; none since beats it")
            out.append((p, think))
            if final:
                done.append(p)
        yield out
        if done:
            keep = ~torch.isin(owner[active], torch.tensor(done, device=device))
            active, x, y, z = active[keep], x[keep], y[keep], z[keep]
        if active.numel() == 0:
            return


def think_puzzle(loaded, grid: np.ndarray, options: ThinkOptions | None = None, puzzle_id: int = 0
                 ) -> Iterator[ThinkStep]:
    """One puzzle's steps, as they come (the window streams these)."""
    for batch in think_steps(loaded, [grid], options, puzzle_id):
        for _p, step in batch:
            yield step


def think_many(loaded, grids: list[np.ndarray], options: ThinkOptions | None = None,
               on_step: Callable[[int, ThinkStep], None] | None = None) -> list[ThinkResult]:
    """Every puzzle's result (eval and the CLI); `on_step(puzzle, step)` sees every step on the way."""
    options = options or ThinkOptions()
    last: dict[int, ThinkStep] = {}
    for batch in think_steps(loaded, grids, options):
        for p, step in batch:
            last[p] = step
            if on_step is not None:
                on_step(p, step)
    out = []
    for p in range(len(grids)):
        s = last[p]
        out.append(ThinkResult(s.answer, s.answer_plausible, s.picked_trajectory, s.reason, s.index, s.elapsed_s))
    return out
