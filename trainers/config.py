"""Training configuration: one JSON-serialisable dataclass for everything a run needs besides the model knobs."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.puzzles.maze import LOOP_FRACTION


class ConfigError(ValueError):
    """A training config that cannot be used; the message names the file and the field."""


@dataclass
class DataConfig:
    kind: str = "sudoku"  # sudoku | maze | custom (a dataset passed to train() by code, e.g. ARC adaptation)
    source: str = "generate"  # "generate" or a file: our puzzle formats or the reference CSVs
    subsample: int | None = None  # train on this many puzzles of the file (seeded pick), like sudoku-extreme-1k
    size: int = 9  # Sudoku side (4, 6, 9) or maze side
    clues: list[int] | None = None  # Sudoku givens range of generated puzzles (None: the generator's default)
    pool_size: int = 2000  # unique base Sudokus, augmented afresh every time they are drawn
    pool_initial: int = 200  # pool puzzles usable from step 0; the usable pool grows by pool_growth per step
    pool_growth: float = 2.0
    augment: bool = True
    hard_fraction: float = 0.0  # Sudoku: share of every batch's slots that hold hard-rated puzzles (0 = none)
    hard_rating: list[float] | None = None  # their rating range, search guesses (None: 8 or more, the hard tier)
    hard_pool_size: int = 2000  # hard puzzles generated once before training (cached), augmented on every draw
    maze_loops: float = LOOP_FRACTION  # loop fraction of generated depth-first mazes
    maze_min_path: int | None = None  # shortest-path length at least this (None: the style's default)
    maze_style: str = "dfs"  # "dfs" (depth-first maze with maze_loops) or "hard" (Maze-Hard's random walls)
    maze_density: list[float] | None = None  # "hard": wall density range (None: 0.3-0.5, as Maze-Hard)
    curriculum_start: int | None = None  # mazes: smallest side at step 0 (padded with walls), growing linearly to
    curriculum_steps: int = 0  # `size` over this many steps (0 = no curriculum)
    # Generated mazes: batches take these canvas sides in turn (ascending, the last `size`), each with its own ACT
    # carry; a canvas's batch holds mazes larger than the canvas before it (the first: from curriculum_start), half
    # of them at its full side, so a small maze never pays for the largest canvas. None: every batch on `size`.
    canvases: list[int] | None = None
    arc_corpus: str = "arc1"  # ARC pretraining: bundled corpus (arc1 | arc2) when source is "generate"
    arc_augmentations: int = 1000  # puzzle identifiers per ARC task (augmentation 0 = the task itself)
    eval_source: str = "generate"  # "generate" or a file
    eval_count: int = 256
    eval_clues: list[int] | None = None  # Sudoku givens range of the generated eval set (default: clues)
    eval_seed: int = 7_000_003
    prefetch: int = 8  # batches prepared ahead by the data worker


@dataclass
class TrainConfig:
    preset: str = ""
    model: dict[str, Any] = field(default_factory=dict)  # TRMConfig fields; vocab_size/seq_len come from the data
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 1000  # optimizer steps; one step = one supervision step of the carried batch
    batch_size: int = 64  # global batch (split across DDP ranks)
    lr: float = 1e-4
    puzzle_emb_lr: float = 1e-2
    weight_decay: float = 1.0
    puzzle_emb_weight_decay: float = 1.0
    # "sign_sgd": the reference's sparse sign-SGD on the rows a batch uses; "adamw": AdamW on the whole table (ARC
    # adaptation's: fitting a new task's embeddings in minutes, trainers.arc_adapt)
    puzzle_emb_optimizer: str = "sign_sgd"
    freeze_weights: bool = False  # train only the puzzle embedding (the reference's freeze_weights)
    # Parameters whose names start with one of these stay as they are. "relative_bias": a fixed attention bias lets
    # torch's fused attention kernel run, which returns no gradient for its mask (2.9x a 30x30 maze step)
    freeze: list[str] = field(default_factory=list)
    beta1: float = 0.9
    beta2: float = 0.95
    warmup_steps: int = 100
    schedule: str = "constant"  # "constant" (after warm-up) or "cosine"
    min_lr_ratio: float = 1.0  # cosine floor as a fraction of lr (the reference's lr_min_ratio)
    grad_clip: float | None = 1.0  # max global grad norm; None = off (the reference does not clip)
    loss: str = "stablemax"  # "stablemax" | "softmax"
    q_loss_weight: float = 0.5
    ema: float | None = 0.999  # EMA decay; None = no EMA
    eval_every: int = 500
    eval_batch_size: int = 256
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 20
    log_every_s: float = 0.0  # also a metrics row whenever this many seconds passed since the last (0: steps only)
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    micro_batch: int = 0  # slots per forward/backward pass, gradients accumulated (0: the whole batch, on a CPU
    # split into cache-sized parts when its activations outgrow the cache: trainers.act.cpu_micro_batch)
    threads: int | None = None  # torch intra-op threads (None = torch default)
    init_from: str = ""  # start from these weights (model file, training checkpoint or run directory), not at random
    notes: str = ""  # free text: where the recipe comes from, what it needs

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = _from_dict(DataConfig, self.data, "data")
        if self.loss not in ("stablemax", "softmax"):
            raise ConfigError(f"loss must be 'stablemax' or 'softmax', not {self.loss!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be 'constant' or 'cosine', not {self.schedule!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be positive")
        if not 0.0 <= self.data.hard_fraction <= 1.0:
            raise ConfigError(f"data.hard_fraction must lie in 0-1, not {self.data.hard_fraction!r}")
        if self.puzzle_emb_optimizer not in ("sign_sgd", "adamw"):
            raise ConfigError(f"puzzle_emb_optimizer must be 'sign_sgd' or 'adamw', not {self.puzzle_emb_optimizer!r}")
        if self.micro_batch < 0:
            raise ConfigError(f"micro_batch must be 0 (the whole batch) or positive, not {self.micro_batch}")
        if (canvases := self.data.canvases) is not None:
            if self.data.kind != "maze" or self.data.source != "generate":
                raise ConfigError("data.canvases: only generated mazes can take several canvases")
            if not canvases or canvases != sorted(set(canvases)) or canvases[-1] != self.data.size or canvases[0] < 2:
                raise ConfigError(f"data.canvases must be ascending sides ending at data.size ({self.data.size}), "
                                  f"not {canvases}")
            if self.model.get("pos_encodings") != "relative2d" or self.model.get("attention_window"):
                raise ConfigError("data.canvases needs a whole-grid relative2d model (model.pos_encodings), which "
                                  "runs on any smaller canvas")

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> TrainConfig:
        try:
            return _from_dict(cls, data, source)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(data, str(path))

    def with_overrides(self, **changes: Any) -> TrainConfig:
        data = self.to_dict()
        data.update(changes)
        return TrainConfig.from_dict(data)


def _from_dict(cls, data: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown field(s) in {where}: {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if not _fits(value, hints[name]):
            label = f"data.{name}" if cls is DataConfig else name
            raise ConfigError(f"{label} is {str(value)[:40]!r}, expected {_type_name(hints[name])}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _fits(value, hint) -> bool:
    """Whether `value` (from JSON or --set) can be a field typed `hint`: numbers where numbers go, so `--set lr=abc`
    is refused before a run starts rather than as a TypeError mid-training (or on a remote host)."""
    if hint is Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, h) for h in typing.get_args(hint))
    origin = typing.get_origin(hint) or hint
    if hint is type(None):
        return value is None
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (bool, str, list, dict):
        return isinstance(value, origin)
    return True  # a nested section: its own fields are checked when it is built


def _type_name(hint) -> str:
    return str(hint).replace("typing.", "") if not isinstance(hint, type) else hint.__name__
