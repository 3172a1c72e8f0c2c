"""Two models on one puzzle, step by step in lockstep (plain objects, no Qt: the CLI and the window share them).

Step k of the comparison pairs each model's k-th supervision step; a model that stopped earlier (it halted, or was
trained for fewer steps) keeps showing its last answer. Cells where the two answers differ are marked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trm_lab.session import SolveSession


def differ_mask(grid: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Cells of `grid` whose value differs in `other` (a cell `other` does not have differs)."""
    grid, other = np.asarray(grid), np.asarray(other)
    if grid.shape == other.shape:
        return grid != other
    mask = np.ones(grid.shape, bool)
    rows, cols = min(grid.shape[0], other.shape[0]), min(grid.shape[1], other.shape[1])
    mask[:rows, :cols] = grid[:rows, :cols] != other[:rows, :cols]
    return mask


def paired(k: int, a: Sequence[Any], b: Sequence[Any]) -> tuple[int, int]:
    """The steps of `a` and `b` shown at timeline position k (0-based): each model's own k-th, or its last."""
    return min(k, len(a) - 1), min(k, len(b) - 1)


def lockstep(a: Sequence[Any], b: Sequence[Any]) -> list[tuple[Any, Any, np.ndarray]]:
    """(step of a, step of b, cells of a's grid that differ in b's) for every timeline position."""
    out = []
    for k in range(max(len(a), len(b))):
        i, j = paired(k, a, b)
        out.append((a[i], b[j], differ_mask(a[i].grid, b[j].grid)))
    return out


@dataclass
class CompareSession:
    """Two solve sessions of one puzzle and the one timeline position both are shown at."""

    a: SolveSession
    b: SolveSession
    position: int = -1
    follow_live: bool = True
    _listeners: list[Callable[[str], None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for s in (self.a, self.b):
            s.subscribe(self._on_session)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """`callback(what)`, what in {"steps", "position", "state"}."""
        self._listeners.append(callback)

    def _emit(self, what: str) -> None:
        for cb in list(self._listeners):
            cb(what)

    def _on_session(self, what: str) -> None:
        if what == "steps":
            self._emit("steps")
            if self.follow_live:
                self.select(self.length - 1)
        elif what == "state":
            self._emit("state")

    @property
    def length(self) -> int:
        return max(len(self.a.steps), len(self.b.steps))

    @property
    def finished(self) -> bool:
        return self.a.state != "running" and self.b.state != "running"

    def select(self, position: int) -> None:
        if not self.length:
            return
        position = max(0, min(self.length - 1, int(position)))
        if position != self.position:
            self.position = position
            self._emit("position")

    def steps_at(self, position: int) -> tuple[Any | None, Any | None]:
        """Each model's step at a timeline position (None for a model with no step yet)."""
        i, j = paired(position, self.a.steps, self.b.steps)
        return (self.a.steps[i] if i >= 0 else None), (self.b.steps[j] if j >= 0 else None)

    def differ_at(self, position: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Cells that differ, in a's grid and in b's grid (None while one model has no step yet)."""
        i, j = paired(position, self.a.steps, self.b.steps)
        if i < 0 or j < 0:
            return None, None
        ga, gb = self.a.display_grid(i), self.b.display_grid(j)
        return differ_mask(ga, gb), differ_mask(gb, ga)

    def differ_series(self) -> np.ndarray:
        """Cells that differ at each timeline position, as a fraction of the grid."""
        return np.array([float(differ_mask(a.grid, b.grid).mean())
                         for a, b, _ in lockstep(self.a.steps, self.b.steps)], float)
