"""Puzzle kinds (Sudoku, maze, ARC): formats, validation, classical solvers, generators and token encodings.

Each kind is one module (`sudoku`, `maze`, `arc`); `base` holds what they share. Readers raise only `PuzzleError`.
"""

from engine.puzzles.base import Encoding, PuzzleError, atomic_write_bytes, atomic_write_text

__all__ = ["Encoding", "PuzzleError", "atomic_write_bytes", "atomic_write_text"]
