"""The 8 dihedral symmetries of a grid, in the reference's order (`dataset/common.py: dihedral_transform`).

Shared by mazes and ARC: a transform id k names the same symmetry here and in data built by the reference, so a
puzzle identifier like `task|||t3|||...` means the same thing in both.
"""

from __future__ import annotations

import numpy as np

# DIHEDRAL_INVERSE[k] undoes transform k (rotations by 90 and 270 degrees undo each other; the rest are involutions).
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
DIHEDRAL_NAMES = ("identity", "rot90", "rot180", "rot270", "flip-lr", "flip-ud", "transpose", "anti-transpose")


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Transform k in 0..7: identity, rot90 x1/x2/x3 (counter-clockwise), flip left-right, flip up-down,
    transpose, anti-diagonal reflection. Returns a new contiguous array."""
    if k == 0:
        out = grid
    elif k in (1, 2, 3):
        out = np.rot90(grid, k=k)
    elif k == 4:
        out = np.fliplr(grid)
    elif k == 5:
        out = np.flipud(grid)
    elif k == 6:
        out = grid.T
    elif k == 7:
        out = np.fliplr(np.rot90(grid, k=1))
    else:
        raise ValueError(f"dihedral transform id must be 0..7, got {k}")
    return np.copy(out, order="C")


def inverse_dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Undo `dihedral(grid, k)`."""
    if not 0 <= k < 8:
        raise ValueError(f"dihedral transform id must be 0..7, got {k}")
    return dihedral(grid, DIHEDRAL_INVERSE[k])
