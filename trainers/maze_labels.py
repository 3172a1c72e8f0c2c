"""Any shortest path is a right answer to a maze, so the training target is the shortest path nearest to what the
model already predicts, not one fixed path.

Random-wall mazes have many shortest routes (a median of 17 at 12 x 12 and hundreds at 20 x 20 in the Maze-Hard
style), and a fixed label makes the model learn the generator's tie-breaking rule on top of the search. Instead,
each step takes, among all shortest S-G paths, the one with the highest summed log-odds of "path" under the model's
logits (dynamic programming over the breadth-first layers, all puzzles of the batch at once), and trains towards
it. A maze with one shortest path gets that path back, and an answer that already is a shortest path is its own
target, so "exactly right" in the halting target means "right by the rules".
"""

from __future__ import annotations

import numpy as np
import torch

from engine.puzzles.maze import GOAL, OPEN, PATH, START, WALL

TOKEN = 1  # token = cell code + 1 (0 is padding)


def _distances(passable: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Breadth-first distances on a (B, H, W) batch, one wavefront per numpy step (-1 = unreachable)."""
    dist = np.where(start, 0, -1).astype(np.int32)
    frontier = start.copy()
    d = 0
    while frontier.any():
        d += 1
        grown = np.zeros_like(frontier)
        grown[:, 1:] |= frontier[:, :-1]
        grown[:, :-1] |= frontier[:, 1:]
        grown[:, :, 1:] |= frontier[:, :, :-1]
        grown[:, :, :-1] |= frontier[:, :, 1:]
        frontier = grown & passable & (dist < 0)
        dist[frontier] = d
    return dist


def _shift_max(a: np.ndarray) -> np.ndarray:
    """For every cell, the largest value among its four neighbours (-inf outside the grid)."""
    out = np.full_like(a, -np.inf)
    out[:, 1:] = np.maximum(out[:, 1:], a[:, :-1])
    out[:, :-1] = np.maximum(out[:, :-1], a[:, 1:])
    out[:, :, 1:] = np.maximum(out[:, :, 1:], a[:, :, :-1])
    out[:, :, :-1] = np.maximum(out[:, :, :-1], a[:, :, 1:])
    return out


def nearest_shortest_paths(grids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (B, H, W) cell codes and per-cell path scores: the grids with the best-scoring shortest S-G path marked,
    and which mazes have a route at all."""
    B, H, W = grids.shape
    passable = grids != WALL
    start, goal = grids == START, grids == GOAL
    d_s, d_g = _distances(passable, start), _distances(passable, goal)
    gflat = goal.reshape(B, -1).argmax(1)
    length = d_s.reshape(B, -1)[np.arange(B), gflat]
    ok = (length > 0) & start.reshape(B, -1).any(1) & goal.reshape(B, -1).any(1)
    on_dag = (d_s >= 0) & (d_g >= 0) & (d_s + d_g == length[:, None, None])
    best = np.where(start, 0.0, -np.inf)
    for d in range(1, int(length.max(initial=0)) + 1):
        layer = on_dag & (d_s == d)
        if not layer.any():
            continue
        best = np.where(layer, scores + _shift_max(best), best)
    # walk back from G, each time to the best-scoring neighbour one layer nearer S
    out = np.where(grids == PATH, OPEN, grids).astype(np.int64)
    rows, cols = gflat // W, gflat % W
    batch = np.arange(B)
    for _ in range(int(length.max(initial=0)) - 1):
        here = d_s[batch, rows, cols]
        active = ok & (here > 1)
        if not active.any():
            break
        choice_val = np.full(B, -np.inf)
        nr, nc = rows.copy(), cols.copy()
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            r, c = np.clip(rows + dr, 0, H - 1), np.clip(cols + dc, 0, W - 1)
            inside = (rows + dr == r) & (cols + dc == c)
            step_ok = inside & on_dag[batch, r, c] & (d_s[batch, r, c] == here - 1)
            val = np.where(step_ok, best[batch, r, c], -np.inf)
            better = val > choice_val
            choice_val = np.where(better, val, choice_val)
            nr, nc = np.where(better, r, nr), np.where(better, c, nc)
        rows, cols = np.where(active, nr, rows), np.where(active, nc, cols)
        out[batch[active], rows[active], cols[active]] = PATH
    return out, ok


def relabel_mazes(inputs: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Training labels for a batch of square mazes (tokens): each solvable maze's shortest path nearest to the
    logits' choice; the others keep their label."""
    B, S = inputs.shape
    side = int(round(S**0.5))
    grids = (inputs.cpu().numpy() - TOKEN).reshape(B, side, side)
    lg = logits.detach().float().cpu()
    scores = (lg[..., PATH + TOKEN] - lg[..., OPEN + TOKEN]).numpy().reshape(B, side, side)
    chosen, solvable = nearest_shortest_paths(grids, scores)
    new = torch.from_numpy(chosen.reshape(B, S) + TOKEN).to(labels)
    return torch.where(torch.from_numpy(solvable)[:, None].to(labels.device), new, labels)
