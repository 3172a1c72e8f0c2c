"""One ACT training step, as the reference trains (`pretrain.py`, `ACTLossHead`, the ACT wrapper of `trm.py`): the step
of the training loop (trainers.loop), which ARC task adaptation (trainers.arc_adapt) runs too.

Every batch slot keeps its puzzle and its (y, z) across steps until it halts, then takes the puzzle in the same slot
of the next data batch and starts from the initial state. A slot halts when q_halt > 0 (or q_halt > q_continue),
with exploration: with probability `halt_exploration_prob` not before a random minimum step in [2, halt_max_steps];
always at halt_max_steps. Loss per slot: cross-entropy (stablemax or softmax) averaged over the cells of its puzzle,
plus `q_loss_weight` * BCE(q_halt, "answer exactly right") (and the q_continue target when the model uses it).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import astuple, dataclass, fields

import torch

from engine.architectures import Model
from engine.losses import IGNORE_LABEL_ID, q_continue_loss, q_halt_loss, sequence_lm_loss
from engine.model import swiglu_width
from trainers.data import Batch


@dataclass
class Carry:
    """The ACT carry of a batch's slots."""

    y: torch.Tensor
    z: torch.Tensor
    steps: torch.Tensor  # (B,) int32 supervision steps taken on the current puzzle
    halted: torch.Tensor  # (B,) bool: take a new puzzle at the next step
    inputs: torch.Tensor
    labels: torch.Tensor
    puzzle_ids: torch.Tensor

    FIELDS = ("y", "z", "steps", "halted", "inputs", "labels", "puzzle_ids")

    @classmethod
    def empty(cls, model: Model, batch: Batch) -> Carry:
        """Every slot halted: the first step takes the batch's puzzles."""
        (B, cells), dev = batch.inputs.shape, batch.inputs.device
        y, z = model.initial_state(B, cells)
        return cls(y, z, torch.zeros(B, dtype=torch.int32, device=dev), torch.ones(B, dtype=torch.bool, device=dev),
                   torch.zeros_like(batch.inputs), torch.zeros_like(batch.labels), torch.zeros_like(batch.puzzle_ids))

    def refill(self, model: Model, batch: Batch) -> Carry:
        """Halted slots take the puzzle in their slot of `batch` and restart from the initial state."""
        h = self.halted
        y0, z0 = model.initial_state(*self.inputs.shape)
        return Carry(torch.where(h[:, None, None], y0, self.y), torch.where(h[:, None, None], z0, self.z),
                     torch.where(h, torch.zeros_like(self.steps), self.steps),
                     h, torch.where(h[:, None], batch.inputs, self.inputs),
                     torch.where(h[:, None], batch.labels, self.labels),
                     torch.where(h, batch.puzzle_ids, self.puzzle_ids))

    def slice(self, rows: slice) -> Carry:
        return Carry(*(getattr(self, name)[rows] for name in self.FIELDS))

    @classmethod
    def cat(cls, parts: list[Carry]) -> Carry:
        if len(parts) == 1:
            return parts[0]
        return cls(*(torch.cat([getattr(p, name) for p in parts]) for name in cls.FIELDS))


@dataclass
class StepMetrics:
    """Sums over slots (what the loop adds up between log rows and all-reduces across ranks)."""

    loss: float = 0.0
    lm_loss: float = 0.0
    q_halt_loss: float = 0.0
    halted: float = 0.0  # slots that finished a puzzle this step (with labels)
    accuracy: float = 0.0  # sum over those slots of their cell accuracy
    exact: float = 0.0  # ... of "every cell right"
    q_halt_right: float = 0.0  # ... of "q_halt >= 0 agrees with every cell right"
    steps: float = 0.0  # ... of the supervision steps they took
    slots: float = 0.0  # slots trained (halted or not)

    def __iadd__(self, other: StepMetrics) -> StepMetrics:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def to_tensor(self) -> torch.Tensor:
        return torch.tensor(astuple(self), dtype=torch.float64)

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> StepMetrics:
        return cls(*t.tolist())

    @classmethod
    def from_sums(cls, sums: dict[str, torch.Tensor]) -> StepMetrics:
        """Metrics from sums kept on the device, named by field, with one device-to-host copy."""
        names = [f.name for f in fields(cls)]
        return cls(**dict(zip(names, torch.stack([sums[n].double() for n in names]).cpu().tolist(), strict=True)))


def exploration_min_steps(gen: torch.Generator, n: int, halt_max_steps: int, prob: float) -> torch.Tensor:
    """(n,) minimum steps before a slot may halt: 0, or with probability `prob` a random step in [2, max]."""
    explore = torch.rand(n, generator=gen) < prob
    return torch.randint(2, halt_max_steps + 1, (n,), generator=gen) * explore


def bootstrapped_q_target(fwd, x: torch.Tensor, out, steps: torch.Tensor, max_steps: int) -> torch.Tensor:
    """The Q-learning target of q_continue (HRM's, and TRM's with no_ACT_continue off): sigmoid of the next step's
    best Q, max(q_halt, q_continue), or its q_halt at the last step; computed from this step's carry, without
    gradient or a target network (the reference's ACT wrapper and loss head)."""
    with torch.no_grad():
        nxt = fwd(x, out.y, out.z)
        nh, nc = nxt.q_halt.float(), nxt.q_continue.float()
        return torch.sigmoid(torch.where(steps >= max_steps, nh, torch.maximum(nh, nc)))


LAST_LEVEL_CACHE = 32 * 2**20  # bytes: this CPU's L3 (the 2-core AMD EPYC the bundled models train on)


def cpu_micro_batch(cfg, batch: int) -> int:
    """Slots per micro-batch on a CPU when none is asked for: the whole batch (0) while its widest activation (the
    channel SwiGLU's gate and up, float32) fits in the last-level cache, else parts of a third of that cache, so
    each product's output is still in cache for the elementwise work after it (and its backward). The paper Sudoku
    config at batch 64 (76 MB) trains in parts of 8, 1.14x faster than whole (docs/training.md); the bundled presets
    (2-26 MB) stay whole, where splitting measured no faster."""
    per_slot = 2 * swiglu_width(cfg.hidden_size, cfg.expansion) * cfg.total_len * 4
    return 0 if batch * per_slot <= LAST_LEVEL_CACHE else max(1, LAST_LEVEL_CACHE // 3 // per_slot)


def act_step(model: Model, carry: Carry, batch: Batch, *, loss: str, q_loss_weight: float,
             min_steps: torch.Tensor | None, grad_scale: float, micro_batch: int = 0, fwd=None, autocast=None,
             relabel=None) -> tuple[Carry, StepMetrics]:
    """One supervision step of the carried batch, its gradient included: back-propagates `grad_scale` * the summed
    loss (accumulating into .grad) and returns (the next carry, metrics). `micro_batch` > 0 runs the slots in
    micro-batches of at most that many, each forward then backward: the slots are independent, so gradient, loss and
    carry are the whole batch's up to float rounding, with the activation memory of one micro-batch (0: the whole
    batch at once, or on a CPU `cpu_micro_batch`'s cache-sized parts).
    `min_steps`: this batch's exploration minima (`exploration_min_steps`), None when halt_max_steps is 1.
    `fwd`: the model's forward (a compiled one), `autocast`: a mixed-precision context. `relabel(inputs, labels,
    logits) -> labels`: for puzzles with several right answers, the one to train towards (the dataset's)."""
    carry = carry.refill(model, batch)
    B = carry.inputs.shape[0]
    if micro_batch == 0 and carry.inputs.device.type == "cpu":
        micro_batch = cpu_micro_batch(model.cfg, B)
    n = -(-B // micro_batch) if micro_batch > 0 else 1
    bounds = [B * i // n for i in range(n + 1)]  # n near-equal parts: at most two shapes for a compiled network
    parts, sums = [], {}
    for sl in (slice(lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)):
        part, total, m = _supervise(model, carry.slice(sl), None if min_steps is None else min_steps[sl], loss=loss,
                                    q_loss_weight=q_loss_weight, fwd=fwd or model, ctx=autocast or nullcontext(),
                                    relabel=relabel)
        (total * grad_scale).backward()
        parts.append(part)
        sums = {name: sums.get(name, 0) + value for name, value in m.items()}
    return Carry.cat(parts), StepMetrics.from_sums(sums)


def _supervise(model: Model, carry: Carry, min_steps: torch.Tensor | None, *, loss: str, q_loss_weight: float,
               fwd, ctx, relabel) -> tuple[Carry, torch.Tensor, dict[str, torch.Tensor]]:
    """The supervision step of refilled slots: (next carry, summed loss, StepMetrics sums by name, on the device)."""
    cfg = model.cfg
    max_steps = cfg.halt_max_steps
    with ctx:
        x = model.embed(carry.inputs, carry.puzzle_ids)
        out = fwd(x, carry.y, carry.z)
    logits, q_halt, q_cont = out.logits, out.q_halt.float(), out.q_continue.float()
    labels = carry.labels
    with torch.no_grad():
        if relabel is not None:  # puzzles with several right answers: train towards the one nearest the logits
            labels = relabel(carry.inputs, labels, logits)
        steps = carry.steps + 1
        halted = steps >= max_steps
        if max_steps > 1:
            halted |= (q_halt > 0) if cfg.no_ACT_continue else (q_halt > q_cont)
            if min_steps is not None:
                halted &= steps >= min_steps.to(steps.device)
        valid = labels != IGNORE_LABEL_ID
        counts = valid.sum(-1)
        right = valid & (logits.argmax(-1) == labels)
        seq_right = right.sum(-1) == counts

    lm = sequence_lm_loss(logits, labels, loss)
    qh = q_halt_loss(q_halt, seq_right)
    qc = torch.zeros((), device=q_halt.device)
    if not cfg.no_ACT_continue:
        with ctx:
            target = bootstrapped_q_target(fwd, x, out, steps, max_steps)
        qc = q_continue_loss(q_cont, target)
    total = lm + q_loss_weight * (qh + qc)

    with torch.no_grad():
        done = halted & (counts > 0)
        cell_acc = right.sum(-1) / counts.clamp_min(1)
        sums = {"loss": total.detach(), "lm_loss": lm.detach(), "q_halt_loss": qh.detach(), "halted": done.sum(),
                "accuracy": torch.where(done, cell_acc, 0).sum(), "exact": (done & seq_right).sum(),
                "q_halt_right": (done & ((q_halt >= 0) == seq_right)).sum(), "steps": torch.where(done, steps, 0).sum(),
                "slots": torch.tensor(labels.shape[0], device=labels.device)}
    return Carry(out.y, out.z, steps, halted, carry.inputs, labels, carry.puzzle_ids), total, sums
