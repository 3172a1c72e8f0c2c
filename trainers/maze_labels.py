"""Any shortest path is a right answer to a maze, so the training target is the shortest path nearest to what the
model already predicts, not one fixed path.

Random-wall mazes have many shortest routes (a median of 17 at 12 x 12 and hundreds at 20 x 20 in the Maze-Hard
style), and a fixed label makes the model learn the generator's tie-breaking rule on top of the search. Instead,
each step takes, among all shortest S-G paths, the one with the highest summed log-odds of "path" under the model's
logits (`engine.puzzles.maze.nearest_shortest_routes`, the same measure the lab marks a maze's wrong cells by),
and trains towards it. A maze with one shortest path gets that path back, and an answer that already is a shortest
path is its own target, so "exactly right" in the halting target means "right by the rules".
"""

from __future__ import annotations

import torch

from engine.puzzles.maze import OPEN, PATH, nearest_shortest_routes

TOKEN = 1  # token = cell code + 1 (0 is padding)


def relabel_mazes(inputs: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Training labels for a batch of square mazes (tokens): each solvable maze's shortest path nearest to the
    logits' choice; the others keep their label."""
    B, S = inputs.shape
    side = int(round(S**0.5))
    grids = (inputs.cpu().numpy() - TOKEN).reshape(B, side, side)
    lg = logits.detach().float().cpu()
    scores = (lg[..., PATH + TOKEN] - lg[..., OPEN + TOKEN]).numpy().reshape(B, side, side)
    chosen, solvable = nearest_shortest_routes(grids, scores)
    new = torch.from_numpy(chosen.reshape(B, S) + TOKEN).to(labels)
    return torch.where(torch.from_numpy(solvable)[:, None].to(labels.device), new, labels)
