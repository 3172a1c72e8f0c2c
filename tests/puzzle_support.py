"""Helpers the puzzle-format tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.puzzles import PuzzleError

CSV_HEADER = "source,question,answer,rating\n"


def assert_csv_rejected(load: Callable[[Path], list], path: Path, rows: str, match: str) -> None:
    """`load` refuses a reference CSV of these rows with a message matching `match` (the file and the place)."""
    path.write_text(CSV_HEADER + rows)
    with pytest.raises(PuzzleError, match=match):
        load(path)
