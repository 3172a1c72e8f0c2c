"""Augmentation voting, as the reference's ARC evaluator does it (`evaluators/arc.py`).

Each view of a test input yields one answer; mapped back through the view's inverse transform, identical grids pool
their votes. Candidates rank by vote count, then by the mean halting confidence of their voters; the top two are
attempt 1 and attempt 2 (pass@2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ViewAnswer:
    """One view's answer to one test input, already mapped back to the task's own orientation and colours."""

    view: str  # the augmentation's name
    grid: np.ndarray
    halt_prob: float  # sigmoid of the Q-halt logit at the final step
    # The grid after each recursion the model was read at (inverse-mapped): every latent recursion of every
    # supervision step, named in `step_names` ("step 1, recursion 1 of 2", ..., "step 1").
    steps: list[np.ndarray] = field(default_factory=list)
    step_halt: list[float] = field(default_factory=list)
    step_names: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    grid: np.ndarray
    votes: int
    mean_halt: float
    views: list[str]
    steps: list[np.ndarray]  # steps of the most confident view that voted for this grid
    step_halt: list[float]
    step_names: list[str] = field(default_factory=list)


def grid_key(grid: np.ndarray) -> bytes:
    """Identity of a grid for voting: shape and cells (the reference hashes exactly these)."""
    g = np.ascontiguousarray(np.asarray(grid, dtype=np.uint8))
    return bytes([g.shape[0] % 256, g.shape[1] % 256]) + g.tobytes()


def vote(answers: Iterable[ViewAnswer]) -> list[Candidate]:
    """Pool identical answers; most votes first, ties broken by the higher mean halting confidence."""
    pools: dict[bytes, list[ViewAnswer]] = {}
    for answer in answers:
        pools.setdefault(grid_key(answer.grid), []).append(answer)
    candidates = []
    for pool in pools.values():
        best = max(pool, key=lambda a: a.halt_prob)
        candidates.append(
            Candidate(
                grid=np.asarray(pool[0].grid),
                votes=len(pool),
                mean_halt=float(np.mean([a.halt_prob for a in pool])),
                views=[a.view for a in pool],
                steps=best.steps,
                step_halt=best.step_halt,
                step_names=best.step_names,
            )
        )
    candidates.sort(key=lambda c: (c.votes, c.mean_halt), reverse=True)
    return candidates


def attempts(candidates: list[Candidate], k: int = 2) -> list[np.ndarray]:
    """The top-k grids, padded with the first (the reference repeats attempt 1 when there is only one answer).

    Unlike the reference, an empty grid (a prediction the crop could not read) never takes an attempt: it cannot be
    right, and a submission needs a non-empty grid."""
    grids = [c.grid for c in candidates if c.grid.size][:k]
    if not grids:
        grids = [np.zeros((1, 1), dtype=np.uint8)]
    while len(grids) < k:
        grids.append(grids[0])
    return grids


def is_solved(attempt_grids: list[np.ndarray], solution: np.ndarray | None) -> bool | None:
    """pass@k for one test input: any attempt equals the solution (None when the solution is unknown)."""
    if solution is None:
        return None
    key = grid_key(solution)
    return any(grid_key(g) == key for g in attempt_grids)
