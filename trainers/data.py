"""Training data: the dataset protocol the loop consumes, generated and file-backed datasets, held-out eval sets.

The protocol is one method, `batch(index, batch_size) -> Batch`: the *global* batch number `index`, a pure function
of the index. That one rule gives exact resume (the loop stores the index), DDP (every rank builds the same global
batch and keeps its slice) and prefetching (a worker thread can run ahead). Anything with that method and the
attributes of `TrainDataset` trains — the ARC task adaptation plugs in its own.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from engine.puzzles.base import Encoding
from trainers import puzzlegen
from trainers.config import ConfigError, DataConfig

IGNORE_LABEL = -100


@dataclass
class Batch:
    inputs: torch.Tensor  # (B, seq_len) int64 tokens
    labels: torch.Tensor  # (B, seq_len) int64 tokens, IGNORE_LABEL where not scored
    puzzle_ids: torch.Tensor  # (B,) int64 rows of the puzzle embedding

    def slice(self, start: int, stop: int) -> Batch:
        return Batch(self.inputs[start:stop], self.labels[start:stop], self.puzzle_ids[start:stop])

    def to(self, device: torch.device) -> Batch:
        return Batch(self.inputs.to(device), self.labels.to(device), self.puzzle_ids.to(device))


@runtime_checkable
class TrainDataset(Protocol):
    """What the training loop consumes."""

    encoding: Encoding  # kind, rows, cols, vocab_size, seq_len (stored in checkpoints)
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    examples_per_epoch: int | None  # for the "epoch" metric; None = infinite stream

    def batch(self, index: int, batch_size: int) -> Batch:
        """Global batch number `index` (deterministic in `index`)."""
        ...


@dataclass
class EvalSet:
    """A held-out set: every puzzle is solved for halt_max_steps supervision steps and scored."""

    inputs: torch.Tensor
    labels: torch.Tensor
    puzzle_ids: torch.Tensor
    tiers: list[str] | None = None  # optional group name per puzzle (e.g. Sudoku givens range) for per-tier accuracy
    keys: set[bytes] = field(default_factory=set)  # hashes of the inputs, to keep training data disjoint
    judge: Callable[[np.ndarray, np.ndarray], bool] | None = None  # (question, answer tokens) -> right by the rules


    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def _key(tokens: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(tokens, dtype=np.int64).tobytes(), digest_size=16).digest()


def make_encoding(kind: str, rows: int, cols: int, vocab_size: int, seq_len: int) -> Encoding:
    return Encoding(kind=kind, rows=rows, cols=cols, vocab_size=vocab_size, seq_len=seq_len)


def clue_range(cfg: DataConfig) -> tuple[int, int]:
    """The configured givens range, or engine.puzzles.sudoku's default for the size."""
    if cfg.clues:
        return int(cfg.clues[0]), int(cfg.clues[1])
    from engine.puzzles.sudoku import DEFAULT_CLUES

    return DEFAULT_CLUES[cfg.size]


def sudoku_tier(givens: int, size: int = 9) -> str:
    if size != 9:
        return "all"
    for lo, hi in ((40, 81), (33, 39), (28, 32), (22, 27)):
        if lo <= givens <= hi:
            return f"{lo}-{min(hi, 50)}" if lo == 40 else f"{lo}-{hi}"
    return "17-21"


# ---- Sudoku augmentation (vectorised over a batch) ----------------------------------------------------------------
def sudoku_augment(rng: np.random.Generator, grids: list[np.ndarray]) -> list[np.ndarray]:
    """One random symmetry applied to every grid of `grids` (each (B, n, n)): digit relabelling, bands and rows
    within bands, stacks and columns within stacks, and (square boxes only) transposition — per puzzle."""
    B, n, _ = grids[0].shape
    br, bc = puzzlegen.box_shape(n)

    def line_perm(box: int) -> np.ndarray:  # (B, n) permutation keeping lines inside their band/stack
        groups = n // box
        order = np.argsort(rng.random((B, groups)), axis=1)
        within = np.argsort(rng.random((B, groups, box)), axis=2)
        return (order[:, :, None] * box + within).reshape(B, n)

    rows, cols = line_perm(br), line_perm(bc)
    digits = np.concatenate([np.zeros((B, 1), np.int64), np.argsort(rng.random((B, n)), axis=1) + 1], axis=1)
    transpose = rng.random(B) < 0.5 if br == bc else np.zeros(B, bool)
    b = np.arange(B)[:, None, None]
    out = []
    for g in grids:
        g = g[b, rows[:, :, None], cols[:, None, :]]
        g = np.where(transpose[:, None, None], g.transpose(0, 2, 1), g)
        out.append(np.take_along_axis(digits, g.reshape(B, -1).astype(np.int64), axis=1).reshape(B, n, n))
    return out


def sudoku_invariant(givens: np.ndarray) -> tuple:
    """A fingerprint unchanged by every Sudoku augmentation: two puzzles with different fingerprints cannot be
    augmentations of each other (used to keep eval puzzles out of the augmented training pool)."""
    n = givens.shape[0]
    br, bc = puzzlegen.box_shape(n)
    mask = givens > 0
    rows = tuple(sorted(mask.sum(1)))
    cols = tuple(sorted(mask.sum(0)))
    bands = tuple(sorted(mask.reshape(n // br, br, n).sum((1, 2))))
    stacks = tuple(sorted(mask.reshape(n, n // bc, bc).sum((0, 2))))
    freq = tuple(sorted(np.bincount(givens[mask].astype(np.int64), minlength=n + 1)[1:]))
    a, b = (rows, bands), (cols, stacks)
    return (min(a, b), max(a, b), freq) if br == bc else (a, b, freq)


# ---- Sudoku: a pool of unique puzzles built in the background, a fresh augmentation on each draw ------------------
class SudokuPool:
    """`count` unique-solution puzzles, puzzle j a pure function of (seed, j), generated by a daemon thread that
    keeps a little ahead of what the batches use (so it does not compete with training for the CPU). Cached on disk
    once complete, so a resumed run (or a second run with the same recipe) does not regenerate it."""

    def __init__(self, n: int, clues: tuple[int, int], count: int, seed: int, exclude: set[tuple] | None = None,
                 cache_dir: Path | None = None):
        self.n, self.clues, self.count, self.seed = n, clues, count, seed
        self.exclude = exclude or set()
        self.givens = np.zeros((count, n, n), np.int8)
        self.solutions = np.zeros((count, n, n), np.int8)
        self.ready = 0
        self.skipped = 0
        self._cond = threading.Condition()
        self._cache = None
        if cache_dir is not None:
            self._cache = Path(cache_dir) / f"sudoku{n}-c{clues[0]}-{clues[1]}-n{count}-s{seed}.npz"
            if self._cache.exists():
                try:
                    data = np.load(self._cache)
                    self.givens[:], self.solutions[:] = data["givens"], data["solutions"]
                    self.ready = count
                except (OSError, ValueError, KeyError):
                    self.ready = 0
        if self.ready and self.exclude:  # cached pools were built with some eval set; check against this one
            bad = [j for j in range(count) if sudoku_invariant(self.givens[j]) in self.exclude]
            if bad:
                self.ready = 0
        self.demand = 0  # the worker stays at most `ahead` puzzles past what batches have asked for
        self.ahead = 256
        if self.ready < count:
            threading.Thread(target=self._fill, daemon=True, name="sudoku-pool").start()

    def _fill(self) -> None:
        j, attempt = 0, 0
        while j < self.count:
            with self._cond:
                self._cond.wait_for(lambda j=j: j < self.demand + self.ahead)
            g, s = puzzlegen.generate_sudoku(np.random.SeedSequence([self.seed, 2, j, attempt]), self.n, self.clues)
            if sudoku_invariant(g) in self.exclude:
                attempt += 1
                self.skipped += 1
                continue
            self.givens[j], self.solutions[j] = g, s
            attempt = 0
            j += 1
            with self._cond:
                self.ready = j
                self._cond.notify_all()
        if self._cache is not None:
            try:
                self._cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = self._cache.with_suffix(".tmp.npz")
                np.savez(tmp, givens=self.givens, solutions=self.solutions)
                tmp.replace(self._cache)
            except OSError:
                pass

    def wait_for(self, k: int) -> None:
        with self._cond:
            if k > self.demand:
                self.demand = k
                self._cond.notify_all()
            self._cond.wait_for(lambda: self.ready >= k)


class SudokuDataset:
    """Generated Sudoku (reference recipe: a pool of unique puzzles, a fresh augmentation on every draw) or a
    fixed list of puzzles (read from a file) with the same augmentation."""

    def __init__(self, cfg: DataConfig, seed: int, eval_set: EvalSet | None = None,
                 puzzles: tuple[np.ndarray, np.ndarray] | None = None, cache_dir: Path | None = None,
                 exclude: set[tuple] | None = None):
        self.cfg, self.seed = cfg, seed
        n = cfg.size if puzzles is None else puzzles[0].shape[1]
        self.n = n
        self.vocab_size, self.seq_len, self.num_puzzle_identifiers = n + 2, n * n, 1
        self.encoding = make_encoding("sudoku", n, n, n + 2, n * n)
        self.eval_keys = eval_set.keys if eval_set is not None else set()
        if puzzles is None:
            self.pool = SudokuPool(n, clue_range(cfg), cfg.pool_size, seed, exclude, cache_dir)
            self.examples_per_epoch = cfg.pool_size
        else:
            self.pool = None
            self.givens, self.solutions = puzzles
            self.examples_per_epoch = len(self.givens)

    def usable(self, index: int) -> int:
        if self.pool is None:
            return len(self.givens)
        return min(self.cfg.pool_size, self.cfg.pool_initial + int(index * self.cfg.pool_growth))

    def batch(self, index: int, batch_size: int) -> Batch:
        rng = np.random.default_rng([self.seed, 3, index])
        k = self.usable(index)
        if self.pool is not None:
            self.pool.wait_for(k)
            givens, solutions = self.pool.givens, self.pool.solutions
        else:
            givens, solutions = self.givens, self.solutions
        pick = rng.integers(0, k, batch_size)
        g, s = givens[pick].astype(np.int64), solutions[pick].astype(np.int64)
        for _ in range(10):
            if self.cfg.augment:
                g2, s2 = sudoku_augment(rng, [g, s])
            else:
                g2, s2 = g, s
            inputs = g2.reshape(batch_size, -1) + 1
            clash = np.array([_key(row) in self.eval_keys for row in inputs]) if self.eval_keys else None
            if clash is None or not clash.any():
                break  # otherwise draw a fresh augmentation of the whole batch
        else:
            raise RuntimeError("training batch keeps colliding with the eval set")
        labels = s2.reshape(batch_size, -1) + 1
        return Batch(torch.from_numpy(inputs), torch.from_numpy(labels), torch.zeros(batch_size, dtype=torch.long))


class MazeDataset:
    """Mazes generated directly (one fresh maze per draw, seeded by batch and slot) or read from a file (with
    dihedral augmentation)."""

    def __init__(self, cfg: DataConfig, seed: int, eval_set: EvalSet | None = None,
                 mazes: tuple[np.ndarray, np.ndarray] | None = None):
        self.cfg, self.seed = cfg, seed
        n = cfg.size if mazes is None else mazes[0].shape[1]
        self.n = n
        self.vocab_size, self.seq_len, self.num_puzzle_identifiers = 6, n * n, 1
        self.encoding = make_encoding("maze", n, n, 6, n * n)
        self.eval_keys = eval_set.keys if eval_set is not None else set()
        self.mazes = mazes
        self.examples_per_epoch = None if mazes is None else len(mazes[0])

    @staticmethod
    def relabel(inputs: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Any shortest path is right: train towards the one nearest the model's answer (trainers.maze_labels)."""
        from trainers.maze_labels import relabel_mazes

        return relabel_mazes(inputs, labels, logits)

    def maze_size(self, index: int, rng: np.random.Generator) -> int:
        """Side of the maze for one slot of batch `index`: the model's size, or with a curriculum a smaller maze
        (padded with walls) whose largest size grows linearly from `curriculum_start` to the model's size; half the
        draws take the current largest size, the rest any odd size from the start up."""
        cfg = self.cfg
        if cfg.curriculum_start is None or cfg.curriculum_steps <= 0:
            return self.n
        frac = min(1.0, index / cfg.curriculum_steps)
        top = int(cfg.curriculum_start + (self.n - cfg.curriculum_start) * frac)
        top = min(self.n, top if top % 2 else top + 1)
        if rng.random() < 0.5:
            return top
        return int(rng.choice(np.arange(cfg.curriculum_start, top + 1, 2)))

    def batch(self, index: int, batch_size: int) -> Batch:
        n = self.n
        inputs = np.zeros((batch_size, n * n), np.int64)
        labels = np.zeros((batch_size, n * n), np.int64)
        rng = np.random.default_rng([self.seed, 4, index])
        for slot in range(batch_size):
            for attempt in range(100):
                if self.mazes is None:
                    seq = np.random.SeedSequence([self.seed, 5, index, slot, attempt])
                    side = self.maze_size(index, rng)
                    grid, sol = puzzlegen.generate_maze(seq, side, self.cfg.maze_loops,
                                                        self.cfg.maze_min_path if side == n else None,
                                                        self.cfg.maze_style, self.cfg.maze_density)
                    if side < n:
                        grid, sol = _pad_walls(grid, n), _pad_walls(sol, n)
                else:
                    j = int(rng.integers(len(self.mazes[0])))
                    grid, sol = self.mazes[0][j], self.mazes[1][j]
                    if self.cfg.augment:
                        k = int(rng.integers(8))
                        grid, sol = _dihedral(grid, k), _dihedral(sol, k)
                tokens = grid.reshape(-1).astype(np.int64) + 1
                if _key(tokens) not in self.eval_keys:
                    break
            inputs[slot], labels[slot] = tokens, sol.reshape(-1).astype(np.int64) + 1
        return Batch(torch.from_numpy(inputs), torch.from_numpy(labels), torch.zeros(batch_size, dtype=torch.long))


class MemoryDataset:
    """Fixed examples in memory, drawn uniformly with replacement per batch (seeded by batch index) — the simplest
    TrainDataset, e.g. for task adaptation on augmented demonstrations or for tests."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, encoding: Encoding,
                 puzzle_ids: torch.Tensor | None = None, num_puzzle_identifiers: int = 1, seed: int = 0):
        self.inputs, self.labels = inputs.long(), labels.long()
        self.puzzle_ids = torch.zeros(len(inputs), dtype=torch.long) if puzzle_ids is None else puzzle_ids.long()
        self.encoding, self.seed = encoding, seed
        self.vocab_size, self.seq_len = encoding.vocab_size, encoding.seq_len
        self.num_puzzle_identifiers = num_puzzle_identifiers
        self.examples_per_epoch = len(inputs)

    def batch(self, index: int, batch_size: int) -> Batch:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + index) % (1 << 62))
        pick = torch.randint(0, len(self.inputs), (batch_size,), generator=gen)
        return Batch(self.inputs[pick], self.labels[pick], self.puzzle_ids[pick])


class ArcDataset:
    """ARC pretraining as the reference builds it (build_arc_dataset.py): every (task, augmentation) is its own puzzle
    identifier (0 is the blank one); augmentation 0 is the identity, the others a dihedral transform with a colour
    permutation; each draw is a random demonstration pair of a random (task, augmentation), placed at a random
    offset on the 30 x 30 canvas. PAD cells are not scored. Tasks come from the bundled corpus (training split plus
    the demonstrations of the evaluation split, whose test inputs form the held-out set) or from a challenges file."""

    def __init__(self, cfg: DataConfig, seed: int, tasks: list):
        from engine.puzzles import arc

        self.arc, self.cfg, self.seed, self.tasks = arc, cfg, seed, tasks
        self.augs = max(1, cfg.arc_augmentations)
        self.encoding = arc.encoding(30)
        self.vocab_size, self.seq_len = self.encoding.vocab_size, self.encoding.seq_len
        self.num_puzzle_identifiers = 1 + len(tasks) * self.augs
        self.examples_per_epoch = len(tasks) * self.augs
        self._aug_cache: dict[tuple[int, int], object] = {}

    def augmentation(self, t: int, j: int):
        if j == 0:
            return None
        key = (t, j)
        if key not in self._aug_cache:
            self._aug_cache[key] = self.arc.random_augmentation(np.random.default_rng([self.seed, 7, t, j]))
        return self._aug_cache[key]

    def identifier(self, t: int, j: int) -> int:
        return 1 + t * self.augs + j

    def batch(self, index: int, batch_size: int) -> Batch:
        rng = np.random.default_rng([self.seed, 8, index])
        inputs = np.zeros((batch_size, self.seq_len), np.int64)
        labels = np.zeros((batch_size, self.seq_len), np.int64)
        ids = np.zeros(batch_size, np.int64)
        for b in range(batch_size):
            t = int(rng.integers(len(self.tasks)))
            j = int(rng.integers(self.augs))
            pair = self.tasks[t].train[int(rng.integers(len(self.tasks[t].train)))]
            aug = self.augmentation(t, j)
            x, y = (pair.input, pair.output) if aug is None else (aug.apply(pair.input), aug.apply(pair.output))
            off = self.arc.random_offset(rng, [x.shape, y.shape])
            inputs[b], labels[b] = self.arc.encode(x, 30, off), self.arc.encode(y, 30, off)
            ids[b] = self.identifier(t, j)
        labels[labels == 0] = IGNORE_LABEL
        return Batch(torch.from_numpy(inputs), torch.from_numpy(labels), torch.from_numpy(ids))


def _arc_tasks(cfg: DataConfig) -> tuple[list, list]:
    """(training tasks, evaluation tasks); evaluation tasks are trained on their demonstrations only."""
    from engine.puzzles import arc

    if cfg.source == "generate":
        train = list(arc.bundled_tasks(cfg.arc_corpus, "train").values())
        evals = list(arc.bundled_tasks(cfg.arc_corpus, "eval").values())
    else:
        try:
            evals = list(arc.load_challenges(cfg.source, cfg.eval_source if cfg.eval_source != "generate" else None)
                         .values())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{cfg.source}: {exc}") from None
        train = []
    return train, evals


def _arc_eval_set(ds: ArcDataset, evals: list, first: int, count: int) -> EvalSet:
    arc = ds.arc
    rows_in, rows_out, ids = [], [], []
    for i, task in enumerate(evals):
        for pair in task.test:
            if pair.output is None:
                continue
            rows_in.append(arc.encode(pair.input, 30))
            rows_out.append(arc.encode(pair.output, 30))
            ids.append(ds.identifier(first + i, 0))
    if count:
        rows_in, rows_out, ids = rows_in[:count], rows_out[:count], ids[:count]
    labels = torch.from_numpy(np.stack(rows_out))
    labels[labels == 0] = IGNORE_LABEL
    return EvalSet(torch.from_numpy(np.stack(rows_in)), labels, torch.tensor(ids, dtype=torch.long))


def _pad_walls(grid: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, size), dtype=grid.dtype)  # 0 = wall
    out[: grid.shape[0], : grid.shape[1]] = grid
    return out


def _dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    g = np.rot90(grid, k % 4)
    return np.ascontiguousarray(g.T if k >= 4 else g)


# ---- files --------------------------------------------------------------------------------------------------------
def load_puzzle_file(kind: str, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(questions, answers) as (N, rows, cols) int8 grids from our puzzle formats or the reference CSVs
    (`source,question,answer,rating`: sudoku-extreme, maze-30x30-hard-1k)."""
    path = Path(path)
    try:
        if kind == "sudoku":
            from engine.puzzles import sudoku as sd

            items = sd.load(path)
            missing = [i for i, p in enumerate(items) if p.solution is None]
            if missing:
                raise ConfigError(f"{path}: puzzle {missing[0] + 1} has no solution to train on")
            return np.stack([p.givens for p in items]), np.stack([p.solution for p in items])
        from engine.puzzles import maze as mz

        items = mz.load(path)
        sols = [m.solution if m.solution is not None else mz.shortest_path(m.grid) for m in items]
        return np.stack([m.grid for m in items]), np.stack(sols)
    except ImportError:
        return _load_reference_csv(kind, path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _load_reference_csv(kind: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    import csv
    import math

    charmap = {c: i for i, c in enumerate("# SGo")} if kind == "maze" else None
    qs, ans = [], []
    try:
        with path.open(newline="") as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if lineno == 1 and row and row[0] == "source":
                    continue
                if len(row) < 3:
                    raise ConfigError(f"{path}, line {lineno}: expected source,question,answer[,rating]")
                q, a = row[1], row[2]
                side = math.isqrt(len(q))
                if side * side != len(q) or len(a) != len(q):
                    raise ConfigError(f"{path}, line {lineno}: question/answer are not square grids of equal size")
                try:
                    if charmap is None:
                        conv = [[0 if ch in ".0" else int(ch) for ch in s] for s in (q, a)]
                    else:
                        conv = [[charmap[ch] for ch in s] for s in (q, a)]
                except (KeyError, ValueError) as exc:
                    raise ConfigError(f"{path}, line {lineno}: unexpected character {exc}") from None
                qs.append(np.array(conv[0], np.int8).reshape(side, side))
                ans.append(np.array(conv[1], np.int8).reshape(side, side))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if not qs:
        raise ConfigError(f"{path}: no puzzles")
    return np.stack(qs), np.stack(ans)


# ---- eval sets ----------------------------------------------------------------------------------------------------
def build_eval_set(cfg: DataConfig) -> tuple[EvalSet, set[tuple]]:
    """The held-out set, and the augmentation-invariant fingerprints of its Sudokus (kept out of the train pool)."""
    if cfg.eval_source != "generate":
        q, a = _subsample(*load_puzzle_file(cfg.kind, cfg.eval_source), cfg.eval_count, cfg.eval_seed)
    elif cfg.kind == "sudoku":
        clues = tuple(cfg.eval_clues or clue_range(cfg))
        pairs = [puzzlegen.generate_sudoku(np.random.SeedSequence([cfg.eval_seed, 1, j]), cfg.size, clues)
                 for j in range(cfg.eval_count)]
        q, a = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    elif cfg.kind == "maze":
        pairs = [puzzlegen.generate_maze(np.random.SeedSequence([cfg.eval_seed, 1, j]), cfg.size, cfg.maze_loops,
                                         cfg.maze_min_path, cfg.maze_style, cfg.maze_density)
                 for j in range(cfg.eval_count)]
        q, a = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    else:
        raise ConfigError(f"data.kind {cfg.kind!r} has no eval set recipe")
    inputs = torch.from_numpy(q.reshape(len(q), -1).astype(np.int64) + 1)
    labels = torch.from_numpy(a.reshape(len(a), -1).astype(np.int64) + 1)
    tiers = None
    invariants: set[tuple] = set()
    if cfg.kind == "sudoku":
        tiers = [sudoku_tier(int((g > 0).sum()), g.shape[0]) for g in q]
        invariants = {sudoku_invariant(g) for g in q}
    keys = {_key(row) for row in inputs.numpy()}
    judge = maze_judge(q.shape[1]) if cfg.kind == "maze" else None
    return EvalSet(inputs, labels, torch.zeros(len(q), dtype=torch.long), tiers, keys, judge), invariants


def maze_judge(side: int) -> Callable[[np.ndarray, np.ndarray], bool]:
    """Right when the answer is ANY shortest S-G path: random-wall mazes have many, and the label is only one."""
    from engine.puzzles import maze as mz

    def judge(question: np.ndarray, answer: np.ndarray) -> bool:
        grid = (np.asarray(question) - 1).reshape(side, side)
        return mz.is_valid_solution(grid, (np.asarray(answer) - 1).reshape(side, side))

    return judge


def _subsample(q: np.ndarray, a: np.ndarray, count: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not count or count >= len(q):
        return q, a
    pick = np.sort(np.random.default_rng([seed, 6]).choice(len(q), count, replace=False))
    return q[pick], a[pick]


def build_datasets(cfg: DataConfig, seed: int, cache_dir: Path | None = None) -> tuple[TrainDataset, EvalSet]:
    """The training stream and the held-out set of a config; the two never share a puzzle (ARC: the held-out set is
    the evaluation tasks' test pairs, which training never shows)."""
    if cfg.kind == "arc":
        train_tasks, eval_tasks = _arc_tasks(cfg)
        ds = ArcDataset(cfg, seed, train_tasks + eval_tasks)
        return ds, _arc_eval_set(ds, eval_tasks, len(train_tasks), cfg.eval_count)
    eval_set, invariants = build_eval_set(cfg)
    if cfg.kind == "sudoku":
        puzzles = None
        if cfg.source != "generate":
            q, a = _subsample(*load_puzzle_file("sudoku", cfg.source), cfg.subsample, seed)
            keep = np.array([sudoku_invariant(g) not in invariants for g in q])
            puzzles = (q[keep], a[keep])
        ds = SudokuDataset(cfg, seed, eval_set, puzzles, cache_dir, exclude=invariants)
    elif cfg.kind == "maze":
        mazes = None
        if cfg.source != "generate":
            q, a = _subsample(*load_puzzle_file("maze", cfg.source), cfg.subsample, seed)
            keep = np.array([_key(g.reshape(-1).astype(np.int64) + 1) not in eval_set.keys for g in q])
            mazes = (q[keep], a[keep])
        ds = MazeDataset(cfg, seed, eval_set, mazes)
    else:
        raise ConfigError(f"data.kind must be 'sudoku', 'maze' or 'arc' for a config-built dataset, not {cfg.kind!r}")
    if ds.seq_len != eval_set.inputs.shape[1]:
        raise ConfigError(f"eval set puzzles have {eval_set.inputs.shape[1]} cells, training puzzles {ds.seq_len}")
    return ds, eval_set


# ---- prefetching --------------------------------------------------------------------------------------------------
class Prefetcher:
    """Builds global batches start, start+1, ... in a daemon thread, `depth` ahead of the training loop."""

    def __init__(self, dataset: TrainDataset, batch_size: int, start: int, depth: int = 8):
        self.dataset, self.batch_size, self.next_index = dataset, batch_size, start
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(start,), daemon=True, name="prefetch")
        self._thread.start()

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            try:
                item = (index, self.dataset.batch(index, self.batch_size))
            except BaseException as exc:  # hand the error to the loop instead of dying silently
                item = (index, exc)
            while not self._stop.is_set():
                try:
                    self._q.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            index += 1

    def get(self) -> tuple[int, Batch]:
        index, item = self._q.get()
        if isinstance(item, BaseException):
            raise item
        self.next_index = index + 1
        return index, item

    def close(self) -> None:
        self._stop.set()
