"""One ARC task as the reference builds it for training: its demonstration pairs under many augmentations.

The reference (`dataset/build_arc_dataset.py`) gives every (task, augmentation) its own puzzle identifier, where an
augmentation is one of the 8 dihedral transforms composed with a permutation of the colours 1-9 (0 stays), drops
augmentations that make an identical task, and translates each training pair at a random place on the canvas. The
test inputs are presented under the same augmentations with the same identifiers, untranslated, so a model that has
learnt the task's embedding per augmentation can answer each of them. This module builds exactly that for one task,
on a canvas cropped to the task's largest grid so a CPU can afford it, as a training set for trainers.loop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from engine.losses import IGNORE_LABEL_ID
from engine.puzzles import arc
from engine.puzzles.base import Encoding, PuzzleError
from trainers.data import Batch

MAX_CANVAS = 30


IDENTITY = arc.ArcAugmentation(0, tuple(range(10)))  # the un-augmented view (puzzle identifier 1)


@dataclass
class View:
    """The task under one augmentation: its puzzle identifier and the augmented grids."""

    puzzle_id: int  # 1-based; 0 is the reference's blank identifier
    augmentation: arc.ArcAugmentation
    pairs: list[tuple[np.ndarray, np.ndarray]]  # augmented demonstration (input, output)
    test_inputs: list[np.ndarray]  # augmented test inputs

    @property
    def name(self) -> str:
        return str(self.augmentation.name)


@dataclass
class AugmentedTask:
    """The task's views, and its training set (trainers.data.TrainDataset): endless random demonstrations."""

    task: arc.ArcTask
    canvas: int
    views: list[View]
    translate: bool = True
    seed: int = 0
    examples_per_epoch = None  # an endless stream (no epochs)

    @property
    def num_identifiers(self) -> int:
        """Rows of the puzzle-embedding table: the blank identifier 0 plus one per view."""
        return len(self.views) + 1

    num_puzzle_identifiers = num_identifiers

    @property
    def seq_len(self) -> int:
        return self.canvas * self.canvas

    @property
    def encoding(self) -> Encoding:
        return arc.encoding(self.canvas)

    @property
    def vocab_size(self) -> int:
        return self.encoding.vocab_size

    def batch(self, index: int, batch_size: int) -> Batch:
        """Batch `index`: `batch_size` random examples drawn from (seed, index); PAD cells are not scored (the
        reference's ignore_label_id = 0)."""
        inputs, labels, ids = (torch.from_numpy(a) for a in self.sample(batch_size, (self.seed, index)))
        return Batch(inputs, torch.where(labels == arc.PAD, IGNORE_LABEL_ID, labels), ids)

    def sample(self, count: int, seed=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`count` random (view, demonstration) examples, encoded and (optionally) translated: inputs, labels, ids.
        `seed`: of the draw (None: the task's seed)."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        inputs = np.zeros((count, self.seq_len), dtype=np.int64)
        labels = np.zeros((count, self.seq_len), dtype=np.int64)
        ids = np.zeros(count, dtype=np.int64)
        for i in range(count):
            view = self.views[rng.integers(len(self.views))]
            inp, out = view.pairs[rng.integers(len(view.pairs))]
            offset = (0, 0)
            if self.translate:
                offset = arc.random_offset(rng, [inp.shape, out.shape], self.canvas)
            inputs[i] = arc.encode(inp, canvas=self.canvas, offset=offset)
            labels[i] = arc.encode(out, canvas=self.canvas, offset=offset)
            ids[i] = view.puzzle_id
        return inputs, labels, ids

    def test_batch(self) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """Every test input under every view (untranslated): inputs, ids and (view index, test index) per row."""
        rows, ids, where = [], [], []
        for v, view in enumerate(self.views):
            for t, grid in enumerate(view.test_inputs):
                rows.append(arc.encode(grid, canvas=self.canvas))
                ids.append(view.puzzle_id)
                where.append((v, t))
        return np.stack(rows), np.asarray(ids, dtype=np.int64), where


def task_max_dim(task: arc.ArcTask) -> int:
    """The largest side of any grid the task shows (demonstrations both ways, test inputs)."""
    grids = [g for p in task.train for g in (p.input, p.output) if g is not None]
    grids += [p.input for p in task.test]
    return max(max(g.shape) for g in grids)


def canvas_for(task: arc.ArcTask, multiple: int = 2) -> int:
    """Largest grid + 1 (room for the end-of-grid marker), rounded up to `multiple`, at most the reference's 30."""
    size = task_max_dim(task) + 1
    return min(MAX_CANVAS, -(size // -multiple) * multiple)


def _task_hash(pairs: list[tuple[np.ndarray, np.ndarray]], tests: list[np.ndarray]) -> str:
    parts = sorted(
        hashlib.sha256(np.ascontiguousarray(a).tobytes() + bytes(a.shape) + b"|" + np.ascontiguousarray(b).tobytes()
                       + bytes(b.shape)).hexdigest()
        for a, b in pairs
    )
    parts += [hashlib.sha256(np.ascontiguousarray(t).tobytes() + bytes(t.shape)).hexdigest() for t in tests]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _as_grid(grid: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(grid, dtype=np.uint8))


def build(
    task: arc.ArcTask,
    *,
    num_views: int = 64,
    canvas: int | None = None,
    seed: int = 0,
    translate: bool = True,
    retries_factor: int = 5,
) -> AugmentedTask:
    """The identity view plus up to `num_views - 1` distinct random augmentations (the reference's recipe).

    Like the reference, an augmentation that yields a task identical to one already present is skipped, and at most
    `retries_factor * num_views` draws are made (a fully symmetric task may end with fewer views).
    """
    if not task.train:
        raise PuzzleError(f"task {task.task_id} has no demonstration pairs to learn from")
    if any(p.output is None for p in task.train):
        raise PuzzleError(f"task {task.task_id}: a demonstration pair has no output")
    size = canvas if canvas is not None else canvas_for(task)
    if task_max_dim(task) > size:
        raise PuzzleError(f"task {task.task_id}: a {task_max_dim(task)}-cell side does not fit a {size} canvas")
    rng = np.random.default_rng(seed)
    base_pairs = [(_as_grid(p.input), _as_grid(p.output)) for p in task.train]
    base_tests = [_as_grid(p.input) for p in task.test]
    views = [View(1, IDENTITY, base_pairs, base_tests)]
    seen = {_task_hash(base_pairs, base_tests)}
    for _ in range(retries_factor * num_views):
        if len(views) >= num_views:
            break
        aug = arc.random_augmentation(rng)
        pairs = [(_as_grid(aug.apply(a)), _as_grid(aug.apply(b))) for a, b in base_pairs]
        tests = [_as_grid(aug.apply(t)) for t in base_tests]
        key = _task_hash(pairs, tests)
        if key in seen:
            continue
        seen.add(key)
        views.append(View(len(views) + 1, aug, pairs, tests))
    return AugmentedTask(task, size, views, translate, seed)
