"""The puzzle-kind contract and its one registry.

Everything the engine, the trainers, the CLI and the window need to know about a kind of puzzle lives behind
`PuzzleKind`: recognising a file, loading and saving it, the token codec, whether a model's canvas fits a grid,
the classical answer, the rules (valid answer, cells that break them, the verdict), the cells the puzzle fixes, and
its training augmentation. Callers ask `get_kind(name)` or `detect_file(path)` and never compare kind names.

A new grid-puzzle kind is one module that subclasses `PuzzleKind` and calls `register` (docs/puzzle-kinds.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.puzzles.base import Encoding, PuzzleError, read_text


@dataclass(frozen=True)
class Item:
    """One puzzle of a file: the question grid, its known answer (the file's or the classical solver's; None when
    unknown or not unique) and a label for people (`puzzle 3`, `007bbfb7 test 1`)."""

    question: np.ndarray
    expected: np.ndarray | None
    label: str


@dataclass(frozen=True)
class Judgement:
    """`status`: "solved", "different" (obeys every rule, differs from the known answer), "invalid", "unknown" or
    "nosolution" (the puzzle has none)."""

    status: str
    message: str

    @property
    def valid(self) -> bool | None:
        """Obeys the rules (None: the kind has no rules to check, like ARC without an answer)."""
        return {"solved": True, "different": True, "invalid": False}.get(self.status)


@dataclass
class View:
    """One symmetric view of a puzzle (thinking harder runs a trajectory in each): `forward` puts the puzzle in it,
    `back` maps an answer grid (or, with `positions_only`, a per-cell array such as confidence) back to the
    puzzle's frame."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    back: Callable[..., np.ndarray]


IDENTITY = View("as given", lambda g: g, lambda g, _positions_only=False: g)


class PuzzleKind:
    """The contract. Grids are 2-D int8 arrays in the kind's own cell codes; `Encoding` is a model's token layout."""

    name: str = ""
    title: str = ""  # for people: "Sudoku", "maze", "ARC task"
    title_plural: str = ""  # "Sudoku", "mazes", "ARC tasks"
    suffixes: tuple[str, ...] = ()  # file suffixes the open/save dialogs offer
    detect_order: int = 50  # `detect_text` asks kinds in this order; the fallback kind comes last
    solver: str = "the classical solver"  # what produced the known answer, for verdicts
    any_canvas: bool = False  # a relative2d model of this kind solves grids of any size (engine.model.with_canvas)
    min_rows: int = 1  # the smallest canvas a model of this kind is made for
    cell_separator: str = " "  # between cells when a grid is printed as text
    has_rules: bool = True  # an answer can be checked by rules alone (ARC answers only against the task's output)
    adapts: bool = False  # a model with a learnt embedding per puzzle has none for a new one until it adapts (ARC)

    module = None  # the kind's module, when it has `load(path)`, `save(path, records)` and `encoding(rows)`

    # -- files -----------------------------------------------------------------------------------------------
    def sniff(self, text: str, suffix: str) -> bool:
        """Does this text (the file's contents, `suffix` its lower-case suffix) hold puzzles of this kind?"""
        raise NotImplementedError

    def load(self, path: str | os.PathLike) -> list:
        """The kind's own puzzle records from a file (raises PuzzleError naming the file and place)."""
        return self.module.load(path)

    def items(self, path: str | os.PathLike) -> list[Item]:
        """Every puzzle of a file as (question, known answer, label)."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike, records: list) -> None:
        """Write the kind's records atomically in the format the suffix names."""
        self.module.save(path, records)

    def item(self, record, label: str = "") -> Item:
        """One of the kind's records as (question, known answer, label)."""
        raise NotImplementedError

    def dumps(self, records: list, csv: bool) -> str:
        """Records as a file's text: the reference's CSV, or the kind's own text format."""
        return self.module.dumps(records, csv=csv)

    record_gap: str = ""  # between two records in the kind's text format (mazes: a blank line)

    # -- generating (`trm-lab generate`, the window's Generate dialog, a bundled model's held-out tiers) ------------
    default_size: int | None = None  # the generator's grid side when none is asked for; None: no generator
    generator_options: tuple[str, ...] = ()  # the generator's own options, each a `trm-lab generate` flag

    @property
    def generates(self) -> bool:
        return self.default_size is not None

    def generate(self, count: int, *, seed: int, size: int, workers: int | None = None, progress=None,
                 **options) -> Iterator:
        """`count` records with known answers, record k a pure function of (seed, k) (PuzzleError for bad options;
        `progress(done, total)` is called as they come)."""
        raise PuzzleError(f"{self.title} puzzles are not generated")

    def generator_label(self, size: int, options: dict) -> str:
        """What is being generated, for progress lines ("maze 15x15 dfs")."""
        return f"{self.name} {size}x{size}"

    # -- tokens ----------------------------------------------------------------------------------------------
    def encoding(self, rows: int) -> Encoding:
        return self.module.encoding(rows)

    def vocab_size(self, rows: int) -> int:
        """Tokens of a model of this kind on a `rows` x `rows` canvas (a reference checkpoint is checked against it,
        whatever size its weights claim)."""
        return self.encoding(rows).vocab_size

    def vocab_means(self, vocab: int) -> str | None:
        """What a model with `vocab` tokens is, were it of this kind ("a 4x4 Sudoku", "a maze"); None when no model
        of this kind has that many (a reference checkpoint's kind is guessed from its vocabulary)."""
        return f"a {self.title}" if vocab == self.vocab_size(max(self.min_rows, 1)) else None

    def side_for_vocab(self, vocab: int) -> int | None:
        """The grid side a vocabulary fixes (a Sudoku's digits), or None when it fixes none."""
        return None

    def fits(self, rows: int, shape: tuple[int, ...], any_canvas: bool = False) -> bool:
        """Can a model trained on `rows` x `rows` grids solve one of `shape`? (`any_canvas`: a relative2d model)"""
        raise NotImplementedError

    def encode(self, grid: np.ndarray, encoding: Encoding) -> np.ndarray:
        """Flat int64 tokens of `grid` in the model's layout; PuzzleError when it does not fit."""
        raise NotImplementedError

    def decode(self, tokens: np.ndarray, encoding: Encoding, shape: tuple[int, int]) -> np.ndarray:
        """The grid a model's tokens stand for, at the puzzle's own `shape` where the kind crops to it."""
        raise NotImplementedError

    # -- rules -----------------------------------------------------------------------------------------------
    def answer(self, question: np.ndarray) -> np.ndarray | None:
        """The classical answer when it is known and unique, else None."""
        return None

    def no_solution(self, question: np.ndarray, search: bool = True) -> str | None:
        """Why no answer to this question can be right (its rules are broken, or the classical solver finds
        none), or None when it has one or may. `search=False`: only what needs no search (a grid being drawn)."""
        return None

    def worth_searching(self, question: np.ndarray) -> bool:
        """Is a puzzle being drawn far enough along for `no_solution` to search it?"""
        return True

    def validate(self, question: np.ndarray) -> None:
        """Raise PuzzleError when the question breaks a rule or has no solution."""
        reason = self.no_solution(question)
        if reason is not None:
            raise PuzzleError(f"this puzzle has no solution: {reason}")

    def is_valid(self, question: np.ndarray, grid: np.ndarray) -> bool:
        """Does `grid` answer `question` by the rules (whatever the stored answer says)?"""
        return False

    def correct(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> bool | None:
        """Is `grid` a right answer? By the rules: a maze answer is any shortest path, a Sudoku answer keeps the
        givens and breaks no rule (None: cannot tell)."""
        return self.is_valid(question, grid)

    def given_mask(self, question: np.ndarray) -> np.ndarray:
        """Cells the puzzle itself fixes (drawn apart from a model's predictions)."""
        return np.zeros(np.asarray(question).shape, bool)

    def nearest_answer(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> np.ndarray | None:
        """The right answer a model's `grid` is measured against (its wrong cells, its accuracy): the known answer,
        or for a kind with many right answers the one nearest to `grid` (None: none known)."""
        return expected

    def rule_errors(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> np.ndarray:
        """Cells to mark in an answer: broken rules, or disagreement with the known answer where that matters."""
        if expected is None:
            return np.zeros(grid.shape, bool)
        if grid.shape != expected.shape:
            return np.ones(grid.shape, bool)
        return grid != expected

    def judge(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> Judgement:
        """Solved / valid but different / invalid: by the rules first, then against the known answer; "nosolution"
        when the puzzle itself has none (then nothing a model says can be right)."""
        question, grid = np.asarray(question), np.asarray(grid)
        reason = self.no_solution(question)
        if reason is not None:
            return Judgement("nosolution", f"This puzzle has no solution: {reason}.")
        same = expected is not None and expected.shape == grid.shape and bool((expected == grid).all())
        if same:
            return Judgement("solved", f"Matches {self.solver}.")
        if self.is_valid(question, grid):
            if expected is None:
                return Judgement("solved", "Obeys every rule.")
            return Judgement("different", f"Obeys every rule but differs from {self.solver}.")
        return Judgement("invalid", self.describe_mistakes(question, grid, expected) + ".")

    def describe_mistakes(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> str:
        """What is wrong with an answer that breaks the rules, in the kind's own words (a verdict's detail)."""
        bad = int(self.rule_errors(question, grid, expected).sum())
        return f"Breaks the rules in {bad} cells"

    def what(self, shape: tuple[int, ...]) -> str:
        """A puzzle of this shape for people ("9\u00d79 Sudoku", "ARC tasks" where the size says nothing)."""
        return f"{shape[0]}\u00d7{shape[1]} {self.title}"

    def solution_json(self, grid: np.ndarray, task_id: str | None = None, attempts: list | None = None) -> dict:
        """An answer as the JSON the kind's community reads (ARC: the ARC Prize submission format, one
        {attempt_1, attempt_2} per test input from `attempts`, each input's one or two grids)."""
        return {"kind": self.name, "grid": np.asarray(grid).tolist()}

    # -- text and training -----------------------------------------------------------------------------------
    def cell_text(self, value: int) -> str:
        """One cell printed as text (the CLI's pictures)."""
        return str(int(value))

    def to_text(self, grid: np.ndarray) -> str:
        """A grid as the kind's text file shows one (an exported solution)."""
        return self.module.to_text(grid).rstrip("\n") + "\n"

    def readable(self, grid: np.ndarray) -> list:
        """A grid as JSON people read: rows of numbers (a maze: rows of its file's characters)."""
        return np.asarray(grid).tolist()

    def augment(self, rng: np.random.Generator, grids: list[np.ndarray]) -> list[np.ndarray]:
        """One random rule-preserving symmetry per puzzle, the same for every array of `grids` (each (B, H, W))."""
        return grids

    def outside_training(self, dataset: dict, question: np.ndarray) -> str | None:
        """How `question` lies outside what a model was trained on (its checkpoint's `dataset` record), as
        "was trained on ...; this puzzle has ...", or None."""
        return None

    def style(self, question: np.ndarray) -> str | None:
        """Which family of this kind's puzzles `question` looks like (mazes: "dfs" corridors or "hard" random walls),
        matched against the `style` a model was trained on; None where a kind has one family."""
        return None

    def trained_style(self, dataset: dict) -> str | None:
        """The family of puzzles a model was trained on, from its checkpoint's `dataset` record (the model
        picker matches it against `style`)."""
        return None

    # -- thinking harder (engine.think) ----------------------------------------------------------------------
    settles_on_halt: bool = False  # a plausible answer may still improve: stop once the model halts on it too

    @property
    def thinks(self) -> bool:
        """Can this kind think harder? It can when it has views (a subclass overrides `views`)."""
        return type(self).views is not PuzzleKind.views

    def views(self, question: np.ndarray, count: int, rng: np.random.Generator) -> list[View] | None:
        """`count` views of the puzzle that keep its answer (the first: as given); None: the kind has none."""
        return None

    def plausible(self, question: np.ndarray, grid: np.ndarray) -> bool:
        """The rules as far as they can be checked without solving the puzzle (a search would make choosing
        between trajectories an oracle's)."""
        return False

    def answer_cost(self, grid: np.ndarray) -> int:
        """Of two plausible answers the cheaper is better (a maze: the shorter route); 0 where all are equal."""
        return 0

    def why_chosen(self, plausible: int, cost: int, halt: float) -> str:
        """Why a plausible answer was chosen among `plausible` of them, in the kind's words."""
        others = "does 1 other" if plausible == 2 else f"do {plausible - 1} others"
        return ("the only answer that obeys every rule" if plausible == 1 else
                f"obeys every rule (as {others}) and has the highest halting confidence ({halt:.2f})")


_KINDS: dict[str, PuzzleKind] = {}


def plural(n: int, one: str, many: str | None = None) -> str:
    """ "1 cell", "3 cells" (verdict wording)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def register(kind: PuzzleKind) -> PuzzleKind:
    """Add a kind to the registry (a kind module calls this once, at import)."""
    _KINDS[kind.name] = kind
    return kind


def _builtin() -> dict[str, PuzzleKind]:
    if not _KINDS or not {"sudoku", "maze", "arc"} <= _KINDS.keys():
        from engine.puzzles import arc, maze, sudoku  # noqa: F401  (each registers its kind on import)
    return _KINDS


def all_kinds() -> list[PuzzleKind]:
    """Every registered kind, in detection order."""
    return sorted(_builtin().values(), key=lambda k: (k.detect_order, k.name))


def kind_names() -> tuple[str, ...]:
    return tuple(k.name for k in all_kinds())


def get_kind(name: str) -> PuzzleKind:
    kinds = _builtin()
    if name not in kinds:
        raise PuzzleError(f"unknown puzzle kind {name!r} (expected one of {', '.join(kind_names())})")
    return kinds[name]


def detect_text(text: str, suffix: str = "", *, source: str | os.PathLike | None = None) -> PuzzleKind:
    for kind in all_kinds():
        if kind.sniff(text, suffix.lower()):
            return kind
    raise PuzzleError("not a puzzle file of any known kind", source=source)


def detect_file(path: str | os.PathLike) -> PuzzleKind:
    """The kind of a puzzle file, from its suffix and contents (PuzzleError when unreadable)."""
    path = Path(path)
    return detect_text(read_text(path), path.suffix, source=path)
