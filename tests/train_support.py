"""Shared by the training tests: a small in-memory dataset of generated 4x4 Sudokus."""

from __future__ import annotations

import numpy as np
import torch

from trainers.data import MemoryDataset, make_encoding
from trainers.puzzlegen import generate_sudoku


def sudoku4_dataset(seed: int, count: int) -> MemoryDataset:
    """`count` generated 4x4 Sudokus (6-10 givens), puzzle i a function of (seed, i), with their solutions."""
    pairs = [generate_sudoku(np.random.SeedSequence([seed, i]), 4, (6, 10)) for i in range(count)]
    q = torch.from_numpy(np.stack([p[0] for p in pairs]).reshape(count, -1).astype(np.int64) + 1)
    a = torch.from_numpy(np.stack([p[1] for p in pairs]).reshape(count, -1).astype(np.int64) + 1)
    return MemoryDataset(q, a, make_encoding("sudoku", 4, 4, 6, 16))
