"""Plain, Qt-free model objects of the lab: puzzle documents with undo/redo, and solve sessions.

Widgets observe these objects (``doc.subscribe(callback)``) and render them; the objects never know about Qt, so
they are unit-tested without a display (the napari split: model objects apart from their views).
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.puzzles import arc, maze, sudoku
from engine.puzzles.kind import PuzzleKind, detect_file, get_kind


class LabError(Exception):
    """A problem the user can act on (bad file, wrong-kind model, ...); shown in a dialog, never as a traceback."""


# ---------------------------------------------------------------------------------------------------------------
# Undo / redo
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class _Entry:
    label: str
    before: Any
    after: Any
    serial: int = 0


class History:
    """Snapshot-based undo stack; snapshots are small (a few grids), so whole-state copies are simplest and safe.

    Every entry carries a serial; `state_id` names the current state, so "dirty" is just "differs from the id
    recorded at save time" and undoing back to the saved state makes the document clean again.
    """

    def __init__(self, limit: int = 1000):
        self._undo: deque[_Entry] = deque(maxlen=limit)
        self._redo: list[_Entry] = []
        self._base = 0
        self._next = 1

    @property
    def state_id(self) -> int:
        return self._undo[-1].serial if self._undo else self._base

    def push(self, label: str, before: Any, after: Any) -> None:
        if len(self._undo) == self._undo.maxlen:
            self._base = -1  # the oldest state is gone; it can never be reached (or be "saved") again
        self._undo.append(_Entry(label, before, after, self._next))
        self._next += 1
        self._redo.clear()

    def undo(self) -> _Entry | None:
        return self._move(self._undo, self._redo)

    def redo(self) -> _Entry | None:
        return self._move(self._redo, self._undo)

    @staticmethod
    def _move(source: Any, target: Any) -> _Entry | None:
        """The newest entry of one stack moved onto the other (None when there is none)."""
        if not source:
            return None
        entry = source.pop()
        target.append(entry)
        return entry

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._base = self._next
        self._next += 1

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str:
        return self._undo[-1].label if self._undo else ""

    @property
    def redo_label(self) -> str:
        return self._redo[-1].label if self._redo else ""


# ---------------------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------------------
class Document:
    """A puzzle being edited: content + edit history + file path + dirty flag; observers hear every change."""

    kind = ""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else None
        self.history = History()
        self._saved_state = self.history.state_id
        self._listeners: list[Callable[[str], None]] = []
        self._group: tuple[str, Any] | None = None
        self.untitled_number = 0
        # A file holding several puzzles: all of them (engine Sudoku / Maze objects) and the one shown.
        self.collection: list[Any] = []
        self.collection_index = 0

    @property
    def puzzle_kind(self) -> PuzzleKind:
        """The kind's rules, codec and file formats (engine.puzzles.kind)."""
        return get_kind(self.kind)

    @property
    def suffixes(self) -> tuple[str, ...]:
        return self.puzzle_kind.suffixes

    takes_answer = False  # the user's answer is a grid a model's answer can be copied into (an ARC output)
    fill_hint = ""  # how else to get an answer to export, after "solve the puzzle first"

    @classmethod
    def blank(cls, side: int) -> Document | None:
        """A new empty puzzle for a model of `side` x `side` grids to solve, or None (ARC: tasks are picked)."""
        return None

    def own_answer(self) -> tuple[np.ndarray, str] | None:
        """An answer that is not a model's, to export, and whose it is ("your solution"), or None."""
        return None

    # -- observation -----------------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[str], None]) -> None:
        """`callback(what)` with what in {"content", "dirty", "path"}."""
        self._listeners.append(callback)

    def unsubscribe(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _emit(self, what: str) -> None:
        for cb in list(self._listeners):
            cb(what)

    # -- state ------------------------------------------------------------------------------------------------
    def snapshot(self) -> Any:
        raise NotImplementedError

    def restore(self, snap: Any) -> None:
        raise NotImplementedError

    @property
    def dirty(self) -> bool:
        return self.history.state_id != self._saved_state

    def mark_saved(self, path: Path | None = None) -> None:
        if path is not None:
            self.path = Path(path)
            self._emit("path")
        self._saved_state = self.history.state_id
        self._emit("dirty")

    @property
    def title(self) -> str:
        if self.path:
            part = f" ({self.collection_index + 1}/{len(self.collection)})" if len(self.collection) > 1 else ""
            return self.path.name + part
        return f"Untitled {self.kind.capitalize()} {self.untitled_number or ''}".rstrip()

    def pick(self, index: int) -> None:
        """Show puzzle `index` of the file's collection: a fresh start (no undo back into another puzzle)."""
        if not 0 <= index < len(self.collection) or index == self.collection_index:
            return
        self.collection_index = index
        self._load_item(self.collection[index])
        self.history.clear()
        self._saved_state = self.history.state_id
        self._emit("content")
        self._emit("path")
        self._emit("dirty")

    def _load_item(self, item: Any) -> None:
        raise NotImplementedError

    # -- editing ----------------------------------------------------------------------------------------------
    def edit(self, label: str, change: Callable[[], Any]) -> Any:
        """Apply `change()`; record it for undo if the state actually changed (or fold it into an open group)."""
        if self._group is not None:
            result = change()
            self._emit("content")
            return result
        before = self.snapshot()
        result = change()
        after = self.snapshot()
        if not _same(before, after):
            self.history.push(label, before, after)
            self._emit("content")
            self._emit("dirty")
        return result

    def begin_group(self, label: str) -> None:
        """Start a compound edit (a paint stroke): many changes, one undo step."""
        if self._group is None:
            self._group = (label, self.snapshot())

    def end_group(self) -> None:
        if self._group is None:
            return
        label, before = self._group
        self._group = None
        after = self.snapshot()
        if not _same(before, after):
            self.history.push(label, before, after)
            self._emit("dirty")

    def undo(self) -> bool:
        self.end_group()
        entry = self.history.undo()
        return self._return_to(entry.before if entry else None, entry is not None)

    def redo(self) -> bool:
        entry = self.history.redo()
        return self._return_to(entry.after if entry else None, entry is not None)

    def _return_to(self, snap: Any, moved: bool) -> bool:
        """Restore a snapshot from the history (a copy: the history keeps its own) and tell the observers."""
        if not moved:
            return False
        self.restore(copy.deepcopy(snap))
        self._emit("content")
        self._emit("dirty")
        return True

    # -- solving ----------------------------------------------------------------------------------------------
    def puzzle_input(self) -> np.ndarray:
        """The grid handed to the model."""
        raise NotImplementedError

    def known_answer(self) -> np.ndarray | None:
        """Ground truth for the verdict: the file's answer, else the classical solver's (None if unknown)."""
        raise NotImplementedError

    def save(self, path: Path) -> None:
        raise NotImplementedError


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and bool((a == b).all())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# -- Sudoku ------------------------------------------------------------------------------------------------------
class SudokuDocument(Document):
    """Givens (the puzzle) plus the user's own entries; `mode` says which layer typing edits."""

    kind = "sudoku"

    def __init__(self, size: int = 9, givens: np.ndarray | None = None, solution: np.ndarray | None = None,
                 path: Path | None = None):
        super().__init__(path)
        if size not in (4, 6, 9):
            raise LabError(f"Sudoku size must be 4, 6 or 9, not {size}")
        self.givens = np.zeros((size, size), np.int8) if givens is None else np.asarray(givens, np.int8).copy()
        self.entries = np.zeros_like(self.givens)
        self.solution = None if solution is None else np.asarray(solution, np.int8).copy()
        # A fresh puzzle is being drawn (typing sets givens); a loaded one is being played (typing sets entries).
        self.mode = "givens" if givens is None else "play"
        self._answer_cache: tuple[bytes, np.ndarray | None] | None = None

    @property
    def size(self) -> int:
        return int(self.givens.shape[0])

    def snapshot(self) -> dict:
        return {"givens": self.givens.copy(), "entries": self.entries.copy(),
                "solution": None if self.solution is None else self.solution.copy()}

    def restore(self, snap: dict) -> None:
        self.givens, self.entries, self.solution = snap["givens"], snap["entries"], snap["solution"]

    def combined(self) -> np.ndarray:
        return np.where(self.givens > 0, self.givens, self.entries).astype(np.int8)

    def set_cell(self, r: int, c: int, value: int) -> bool:
        """Type a digit (0 clears). Returns False when the cell is a given and we are playing (not editable)."""
        if not 0 <= value <= self.size:
            return False
        if self.mode == "play" and self.givens[r, c]:
            return False

        def change() -> None:
            if self.mode == "givens":
                self.givens[r, c] = value
                self.entries[r, c] = 0
                if self.solution is not None and value and self.solution[r, c] != value:
                    self.solution = None  # the stored answer no longer belongs to this puzzle
            else:
                self.entries[r, c] = value

        self.edit("Clear cell" if value == 0 else f"Set {value}", change)
        return True

    def _load_item(self, item: Any) -> None:
        self.givens = np.asarray(item.givens, np.int8).copy()
        self.entries = np.zeros_like(self.givens)
        self.solution = None if item.solution is None else np.asarray(item.solution, np.int8).copy()

    def clear_entries(self) -> None:
        self.edit("Clear entries", lambda: self.entries.fill(0))

    def replace(self, givens: np.ndarray, solution: np.ndarray | None, label: str = "Generate") -> None:
        def change() -> None:
            self.givens = np.asarray(givens, np.int8).copy()
            self.entries = np.zeros_like(self.givens)
            self.solution = None if solution is None else np.asarray(solution, np.int8).copy()

        self.edit(label, change)

    def conflicts(self) -> np.ndarray:
        return np.asarray(sudoku.conflicts(self.combined()), bool)

    def puzzle_input(self) -> np.ndarray:
        return self.givens.copy()

    def known_answer(self) -> np.ndarray | None:
        if self.solution is not None:
            return self.solution.copy()
        key = self.givens.tobytes()
        if self._answer_cache is None or self._answer_cache[0] != key:
            answer = None
            if (self.givens > 0).sum() >= max(4, self.size * self.size // 5):  # an empty grid is not worth solving
                answer = self.puzzle_kind.answer(self.givens)
            self._answer_cache = (key, answer)
        return None if self._answer_cache[1] is None else self._answer_cache[1].copy()

    def save(self, path: Path) -> None:
        self.puzzle_kind.save(Path(path), [sudoku.Sudoku(givens=self.givens.copy(), solution=self.solution)])

    @classmethod
    def from_record(cls, record: sudoku.Sudoku, path: Path) -> SudokuDocument:
        return cls(record.size, record.givens, record.solution, path=path)

    @classmethod
    def generated(cls, grid: np.ndarray, solution: np.ndarray | None) -> SudokuDocument:
        """A new, unsaved document holding a generated puzzle (the Generate dialog's)."""
        return cls(grid.shape[0], grid, solution)

    @classmethod
    def blank(cls, side: int) -> SudokuDocument | None:
        return cls(side) if side in sudoku.BOXES else None

    fill_hint = ", or fill it in"

    def own_answer(self) -> tuple[np.ndarray, str] | None:
        grid = self.combined()
        return (grid, "your solution") if self.puzzle_kind.is_valid(self.givens, grid) else None


# -- Maze ---------------------------------------------------------------------------------------------------------
class MazeDocument(Document):
    """A maze grid of codes (wall, open, start, goal); exactly one start and one goal are kept when placing them."""

    kind = "maze"

    def __init__(self, grid: np.ndarray | None = None, solution: np.ndarray | None = None, path: Path | None = None,
                 size: int = 15):
        super().__init__(path)
        if grid is None:
            grid = np.full((size, size), maze.OPEN, np.int8)
            grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = maze.WALL
            grid[1, 1], grid[-2, -2] = maze.START, maze.GOAL
        self.grid = np.asarray(grid, np.int8).copy()
        self.grid[self.grid == maze.PATH] = maze.OPEN
        self.solution = None if solution is None else np.asarray(solution, np.int8).copy()

    def snapshot(self) -> dict:
        return {"grid": self.grid.copy(), "solution": None if self.solution is None else self.solution.copy()}

    def restore(self, snap: dict) -> None:
        self.grid, self.solution = snap["grid"], snap["solution"]

    def paint(self, cells: Iterable[tuple[int, int]], code: int) -> None:
        """Set cells to wall/open, or place the (single) start / goal at the first cell given."""
        cells = [(r, c) for r, c in cells if 0 <= r < self.grid.shape[0] and 0 <= c < self.grid.shape[1]]
        if not cells:
            return

        def change() -> None:
            if code in (maze.START, maze.GOAL):
                self.grid[self.grid == code] = maze.OPEN
                r, c = cells[0]
                self.grid[r, c] = code
            else:
                for r, c in cells:
                    self.grid[r, c] = code
            self.solution = None

        label = {maze.WALL: "Paint walls", maze.OPEN: "Paint open", maze.START: "Place start", maze.GOAL: "Place goal"}
        self.edit(label.get(code, "Paint"), change)

    def _load_item(self, item: Any) -> None:
        self.grid = np.asarray(item.grid, np.int8).copy()
        self.grid[self.grid == maze.PATH] = maze.OPEN
        self.solution = None if item.solution is None else np.asarray(item.solution, np.int8).copy()

    def resize(self, rows: int, cols: int) -> None:
        if not (3 <= rows <= 60 and 3 <= cols <= 60):
            raise LabError(f"maze size must be between 3 and 60, not {rows} x {cols}")

        def change() -> None:
            new = np.full((rows, cols), maze.WALL, np.int8)
            h, w = min(rows, self.grid.shape[0]), min(cols, self.grid.shape[1])
            new[:h, :w] = self.grid[:h, :w]
            self.grid = new
            self.solution = None

        self.edit(f"Resize to {rows} x {cols}", change)

    def replace(self, grid: np.ndarray, solution: np.ndarray | None, label: str = "Generate") -> None:
        def change() -> None:
            self.grid = np.asarray(grid, np.int8).copy()
            self.grid[self.grid == maze.PATH] = maze.OPEN
            self.solution = None if solution is None else np.asarray(solution, np.int8).copy()

        self.edit(label, change)

    def shortest_path(self) -> np.ndarray | None:
        return self.puzzle_kind.answer(self.grid)

    def puzzle_input(self) -> np.ndarray:
        return self.grid.copy()

    def known_answer(self) -> np.ndarray | None:
        return self.solution.copy() if self.solution is not None else self.shortest_path()

    def save(self, path: Path) -> None:
        self.puzzle_kind.save(Path(path), [maze.Maze(grid=self.grid.copy(), solution=self.known_answer())])

    @classmethod
    def from_record(cls, record: maze.Maze, path: Path) -> MazeDocument:
        return cls(record.grid, record.solution, path=path)

    @classmethod
    def generated(cls, grid: np.ndarray, solution: np.ndarray | None) -> MazeDocument:
        return cls(grid, solution)

    @classmethod
    def blank(cls, side: int) -> MazeDocument:
        return cls(size=min(side, maze.MAX_GRID))

    def own_answer(self) -> tuple[np.ndarray, str] | None:
        path = self.shortest_path()
        return None if path is None else (path, "the BFS shortest path (no model answer yet)")


# -- ARC ----------------------------------------------------------------------------------------------------------
class ArcDocument(Document):
    """An ARC task with one editable output grid per test input (the official testing interface's state)."""

    kind = "arc"
    takes_answer = True

    def __init__(self, task: Any, path: Path | None = None):
        super().__init__(path)
        self.task = task
        self.test_index = 0
        self.outputs: list[np.ndarray] = [np.zeros((3, 3), np.int8) for _ in task.test]

    @property
    def title(self) -> str:
        return self.path.name if self.path else f"ARC {self.task.task_id}"

    @property
    def output(self) -> np.ndarray:
        return self.outputs[self.test_index]

    @property
    def test_input(self) -> np.ndarray:
        return np.asarray(self.task.test[self.test_index].input, np.int8)

    @property
    def test_output(self) -> np.ndarray | None:
        out = self.task.test[self.test_index].output
        return None if out is None else np.asarray(out, np.int8)

    def snapshot(self) -> list[np.ndarray]:
        return [o.copy() for o in self.outputs]

    def restore(self, snap: list[np.ndarray]) -> None:
        self.outputs = snap

    def _set_output(self, grid: np.ndarray) -> None:
        self.outputs[self.test_index] = np.asarray(grid, np.int8)

    def paint(self, cells: Iterable[tuple[int, int]], colour: int) -> None:
        cells = list(cells)
        out = self.output

        def change() -> None:
            for r, c in cells:
                if 0 <= r < out.shape[0] and 0 <= c < out.shape[1]:
                    out[r, c] = colour

        self.edit("Paint", change)

    def flood_fill(self, r: int, c: int, colour: int) -> None:
        out = self.output
        if not (0 <= r < out.shape[0] and 0 <= c < out.shape[1]):
            return
        self.edit("Flood fill", lambda: self._set_output(flood_fill(out, r, c, colour)))

    def resize(self, rows: int, cols: int) -> None:
        if not (1 <= rows <= 30 and 1 <= cols <= 30):
            raise LabError(f"ARC grids are 1 to 30 cells on a side, not {rows} x {cols}")

        def change() -> None:
            new = np.zeros((rows, cols), np.int8)
            h, w = min(rows, self.output.shape[0]), min(cols, self.output.shape[1])
            new[:h, :w] = self.output[:h, :w]
            self._set_output(new)

        self.edit(f"Resize to {rows} x {cols}", change)

    def copy_from_input(self) -> None:
        self.edit("Copy from input", lambda: self._set_output(self.test_input.copy()))

    def reset(self) -> None:
        self.edit("Reset output", lambda: self._set_output(np.zeros((3, 3), np.int8)))

    def own_answer(self) -> tuple[np.ndarray, str] | None:
        return self.output.copy(), "your output"

    def set_output(self, grid: np.ndarray, label: str = "Use model answer") -> None:
        self.edit(label, lambda: self._set_output(np.asarray(grid, np.int8).copy()))

    def paste(self, r: int, c: int, block: np.ndarray) -> None:
        """Paste `block` with its top-left at (r, c), clipped to the output grid (as the official interface does)."""
        out = self.output

        def change() -> None:
            h = max(0, min(block.shape[0], out.shape[0] - r))
            w = max(0, min(block.shape[1], out.shape[1] - c))
            out[r : r + h, c : c + w] = block[:h, :w]

        self.edit("Paste", change)

    def check(self) -> bool | None:
        """True/False against the known test output; None when the task carries no answer."""
        return self.puzzle_kind.correct(self.test_input, self.output, self.test_output)

    def puzzle_input(self) -> np.ndarray:
        return self.test_input

    def known_answer(self) -> np.ndarray | None:
        return self.test_output

    def save(self, path: Path) -> None:
        """Write the task JSON; a test pair without a known output gets the user's grid as its output."""
        task = copy.deepcopy(self.task)
        for pair, out in zip(task.test, self.outputs, strict=True):
            if pair.output is None:
                pair.output = out.copy()
        self.puzzle_kind.save(Path(path), [task])

    @classmethod
    def from_record(cls, record: arc.ArcTask, path: Path) -> ArcDocument:
        return cls(record, path=path)


def flood_fill(grid: np.ndarray, r: int, c: int, colour: int) -> np.ndarray:
    """4-connected fill of the region of (r, c)'s colour, as the ARC testing interface does."""
    out = grid.copy()
    target = out[r, c]
    if target == colour:
        return out
    stack = [(r, c)]
    while stack:
        y, x = stack.pop()
        if 0 <= y < out.shape[0] and 0 <= x < out.shape[1] and out[y, x] == target:
            out[y, x] = colour
            stack.extend(((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Opening files
# ---------------------------------------------------------------------------------------------------------------
DOCUMENTS: dict[str, type[Document]] = {cls.kind: cls for cls in (SudokuDocument, MazeDocument, ArcDocument)}


def open_document(path: Path, kind: str | None = None) -> Document:
    """Read a puzzle file into a document of its kind (a file of several puzzles keeps them all as its collection);
    every failure becomes a LabError naming the file and place."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"{path}: no such file")
    try:
        puzzle_kind = get_kind(kind) if kind else detect_file(path)
        records = puzzle_kind.load(path)
    except ValueError as exc:  # PuzzleError is a ValueError whose message names file, line and column
        raise LabError(str(exc) if str(path.name) in str(exc) else f"{path}: {exc}") from exc
    except OSError as exc:
        raise LabError(f"{path}: cannot read ({exc})") from exc
    if not records:
        raise LabError(f"{path}: no {puzzle_kind.title} found")
    doc = DOCUMENTS[puzzle_kind.name].from_record(records[0], path)
    doc.collection = records  # an ARC task file is one task: a collection of one
    return doc


# ---------------------------------------------------------------------------------------------------------------
# Solve sessions
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    status: str  # "solved" | "different" (valid but different) | "invalid" | "unknown" | "nosolution"
    message: str
    elapsed_s: float
    steps: int

    @property
    def headline(self) -> str:
        return {"solved": "Solved", "different": "Valid but different", "invalid": "Invalid",
                "unknown": "No known answer", "nosolution": "No solution"}.get(self.status, self.status)


def judge(kind: str, puzzle: np.ndarray, grid: np.ndarray, expected: np.ndarray | None, elapsed_s: float,
          steps: int) -> Verdict:
    """Solved / valid but different / invalid / no solution, by the kind's rules and its known answer
    (engine.puzzles.kind)."""
    judgement = get_kind(kind).judge(puzzle, grid, expected)
    return Verdict(judgement.status, judgement.message, elapsed_s, steps)


@dataclass
class ReplayStep:
    """A step recorded elsewhere (an ARC adaptation's answer), shaped like engine.inference.GridStep."""

    index: int
    grid: np.ndarray
    halt_prob: float
    changed: np.ndarray
    confidence: np.ndarray
    name: str = ""
    cycle: int | None = None
    elapsed_s: float = 0.0
    halted: bool = False


def replay_steps(grids: list[np.ndarray], halts: list[float], names: list[str]) -> list[ReplayStep]:
    """Recorded grids as session steps: a cell counts as changed where it differs from the previous grid."""
    steps = []
    for i, grid in enumerate(grids):
        grid = np.asarray(grid, np.int8)
        prev = np.asarray(grids[i - 1]) if i else None
        changed = grid != prev if prev is not None and prev.shape == grid.shape else np.zeros(grid.shape, bool)
        steps.append(ReplayStep(i + 1, grid, float(halts[i]) if i < len(halts) else float("nan"), changed,
                                np.ones(grid.shape, np.float32), names[i] if i < len(names) else ""))
    return steps


@dataclass
class SolveSession:
    """One solve of one puzzle: the streamed steps, the selected step, and the verdict when it finishes."""

    kind: str
    puzzle: np.ndarray
    expected: np.ndarray | None = None
    model_name: str = ""
    halt_threshold: float | None = None
    planned_steps: int = 0  # how many steps the solve may yield at most (for a steady plot axis)
    steps: list[Any] = field(default_factory=list)  # engine.inference.GridStep
    selected: int = -1
    verdict: Verdict | None = None
    state: str = "running"  # running | finished | cancelled | failed
    message: str = ""
    started: float = field(default_factory=time.perf_counter)
    follow_live: bool = True  # keep the newest step selected while steps stream in
    think: list[Any] = field(default_factory=list)  # engine.think.ThinkStep per step when thinking harder
    shown: int | None = None  # the trajectory the timeline shows (None: the one currently chosen)
    _steps_trajectory: int | None = field(default=None, repr=False)  # the trajectory `steps` now holds
    _measured: dict[int, tuple[Any, np.ndarray, float | None]] = field(default_factory=dict, repr=False)
    _listeners: list[Callable[[str], None]] = field(default_factory=list, repr=False)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """`callback(what)` with what in {"steps", "selected", "state"}."""
        self._listeners.append(callback)

    def _emit(self, what: str) -> None:
        for cb in list(self._listeners):
            cb(what)

    @property
    def givens(self) -> np.ndarray:
        return get_kind(self.kind).given_mask(self.puzzle)

    def add_step(self, step: Any) -> None:
        """A GridStep, or (thinking harder) a ThinkStep: then `steps` holds the shown trajectory's steps."""
        if hasattr(step, "trajectories"):
            self.think.append(step)
            if self.trajectory != self._steps_trajectory:  # the chosen one changed: the timeline follows it
                self.steps = [t.trajectories[self.trajectory] for t in self.think]
            else:
                self.steps.append(step.trajectories[self.trajectory])
            self._steps_trajectory = self.trajectory
        else:
            self.steps.append(step)
        self._emit("steps")
        if self.follow_live:
            self.select(len(self.steps) - 1)

    @property
    def chosen(self) -> int | None:
        """The trajectory the rules, halting confidence and vote pick at the newest step (None: one trajectory)."""
        return self.think[-1].chosen if self.think else None

    @property
    def trajectory(self) -> int:
        return self.shown if self.shown is not None else (self.chosen or 0)

    def show_trajectory(self, index: int | None) -> None:
        """Show another trajectory's steps in the timeline (None: back to the chosen one)."""
        if not self.think:
            return
        self.shown = None if index is None else max(0, min(len(self.think[-1].trajectories) - 1, int(index)))
        self.steps = [t.trajectories[self.trajectory] for t in self.think]
        self._steps_trajectory = self.trajectory
        self._emit("steps")
        self._emit("selected")

    def trajectory_halt_series(self) -> np.ndarray:
        """(trajectories, steps): every trajectory's halting confidence per step."""
        return np.array([[float(t.halt_prob) for t in s.trajectories] for s in self.think], float).T

    def winner_text(self) -> str:
        """Which trajectory won and why, for the verdict."""
        if not self.think:
            return ""
        last = self.think[-1]
        k, total = last.picked_trajectory, len(last.trajectories)
        return f"Trajectory {k + 1} of {total} won: {last.reason}."

    def select(self, index: int) -> None:
        if not self.steps:
            return
        index = max(0, min(len(self.steps) - 1, int(index)))
        if index != self.selected:
            self.selected = index
            self._emit("selected")

    @property
    def current(self) -> Any | None:
        return self.steps[self.selected] if 0 <= self.selected < len(self.steps) else None

    def display_grid(self, index: int) -> np.ndarray:
        """The grid to draw at a step: givens as given (a disagreeing prediction there is marked by `errors_at`,
        never drawn in the given's place), the model's predictions everywhere else."""
        grid = np.asarray(self.steps[index].grid)
        if grid.shape != self.puzzle.shape:
            return grid
        return np.where(self.givens, self.puzzle, grid).astype(grid.dtype)

    def _measure(self, index: int) -> tuple[np.ndarray, float | None]:
        """(wrong cells, fraction of cells equal to the right answer nearest to it) of a step, once per step: a
        maze's nearest shortest route is a search, and the plot asks for every step at each new one."""
        step = self.steps[index]
        hit = self._measured.get(id(step))
        if hit is not None and hit[0] is step:
            return hit[1], hit[2]
        kind, grid = get_kind(self.kind), np.asarray(step.grid)
        errors = kind.rule_errors(self.puzzle, grid, self.expected)
        right = kind.nearest_answer(self.puzzle, grid, self.expected)
        accuracy = None if right is None else float((grid == right).mean()) if grid.shape == right.shape else 0.0
        self._measured[id(step)] = (step, errors, accuracy)
        return errors, accuracy

    def errors_at(self, index: int) -> np.ndarray:
        return self._measure(index)[0]

    def finish(self, state: str = "finished", message: str = "") -> None:
        self.state, self.message = state, message
        if self.steps and state in ("finished", "cancelled"):
            last = self.think[-1] if self.think else self.steps[-1]
            grid = last.answer if self.think else last.grid
            self.verdict = judge(self.kind, self.puzzle, np.asarray(grid), self.expected,
                                 float(last.elapsed_s), int(last.index))
            if self.think and last.kept is not None:  # the timeline shows the step the kept answer came from
                self.show_trajectory(last.kept_trajectory)
                self.select(last.kept.index - 1)
        self._emit("state")

    # -- series for the plots ---------------------------------------------------------------------------------
    def halt_series(self) -> np.ndarray:
        return np.array([float(s.halt_prob) for s in self.steps], float)

    def changed_series(self) -> np.ndarray:
        return np.array([float(np.asarray(s.changed).mean()) for s in self.steps], float)

    def accuracy_series(self) -> np.ndarray | None:
        """Fraction of cells equal to the right answer nearest to each step (None without one: no known answer)."""
        values = [self._measure(i)[1] for i in range(len(self.steps))]
        return None if not values or any(v is None for v in values) else np.array(values, float)

    def step_label(self, index: int) -> str:
        s = self.steps[index]
        if getattr(s, "name", ""):
            return s.name
        cyc = f".{s.cycle}" if getattr(s, "cycle", None) is not None else ""
        update = f" L{s.update}" if getattr(s, "update", None) is not None else ""  # a low-level update
        return f"step {s.index}{cyc}{update}"
