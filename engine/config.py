"""Every architectural knob of TRM in one dataclass, serialisable into checkpoint metadata; `ArchConfig` holds what
every architecture's config (TRM's here, HRM's in engine.hrm) shares: its JSON form and the checks they have in common.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar, Literal

Mixer = Literal["attention", "mlp"]
PosEncoding = Literal["rope", "relative2d", "learned", "none"]


@dataclass
class ArchConfig:
    """Base of the architectures' config dataclasses: the fields every one starts with, one JSON form (checkpoint
    metadata, `model` of a training config) and the validation they share. Subclasses name their position encodings
    and the counts that must be at least 1."""

    vocab_size: int
    seq_len: int
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0

    POS_ENCODINGS: ClassVar[tuple[str, ...]]
    AT_LEAST_ONE: ClassVar[tuple[str, ...]] = ()

    def check_shared(self) -> None:
        """Raise ValueError for an unknown position encoding, a count below 1, or heads that do not divide the
        width of an attention mixer."""
        known = self.POS_ENCODINGS
        if self.pos_encodings not in known:
            raise ValueError(f"{type(self).__name__} pos_encodings must be {', '.join(known[:-1])} or {known[-1]}, "
                             f"not {self.pos_encodings!r}")
        for name in self.AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.mixer == "attention" and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")

    @property
    def grid_side(self) -> int:
        """Side of the square grid the tokens are laid out on (row-major)."""
        return math.isqrt(self.seq_len)

    @property
    def total_len(self) -> int:
        """Puzzle-embedding prefix plus tokens: the sequence the network sees."""
        return self.prefix_len + self.seq_len

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))


@dataclass
class TRMConfig(ArchConfig):
    L_layers: int = 2
    H_cycles: int = 3  # T: deep-recursion cycles per supervision step (T-1 without gradients)
    L_cycles: int = 6  # n: latent updates per cycle
    halt_max_steps: int = 16  # supervision steps
    halt_exploration_prob: float = 0.1
    mixer: Mixer = "attention"  # "mlp" = the reference's mlp_t (an MLP over the sequence)
    pos_encodings: PosEncoding = "rope"  # relative2d: a learned bias per head for every (row, column) offset
    attention_window: int = 0  # relative2d only: attend to the window x window cells around each one; 0 = all
    puzzle_emb_ndim: int = 0  # 0 = no puzzle embedding
    puzzle_emb_len: int = 16  # prefix positions; 0 = ceil(puzzle_emb_ndim / hidden_size)
    num_puzzle_identifiers: int = 1
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    forward_dtype: str = "bfloat16"
    no_ACT_continue: bool = True  # halt when q_halt > 0 (the paper), not q_halt > q_continue

    POS_ENCODINGS: ClassVar[tuple[str, ...]] = ("rope", "relative2d", "learned", "none")
    AT_LEAST_ONE: ClassVar[tuple[str, ...]] = ("L_layers", "H_cycles", "L_cycles", "halt_max_steps")

    def __post_init__(self) -> None:
        if self.mixer not in ("attention", "mlp"):
            raise ValueError(f"mixer must be 'attention' or 'mlp', not {self.mixer!r}")
        self.check_shared()
        if self.pos_encodings == "relative2d" and (self.mixer != "attention" or self.grid_side ** 2 != self.seq_len):
            raise ValueError(f"relative2d needs attention over a square grid, not {self.mixer} over {self.seq_len}")
        if self.attention_window and (self.pos_encodings != "relative2d" or self.attention_window % 2 == 0
                                      or self.attention_window < 3 or self.prefix_len):
            raise ValueError(f"attention_window {self.attention_window} needs relative2d attention without a puzzle "
                             "embedding and an odd window of 3 or more")

    @property
    def prefix_len(self) -> int:
        """Positions taken by the puzzle embedding in front of the tokens."""
        if self.puzzle_emb_ndim <= 0:
            return 0
        if self.puzzle_emb_len == 0:
            return -(self.puzzle_emb_ndim // -self.hidden_size)
        return self.puzzle_emb_len
