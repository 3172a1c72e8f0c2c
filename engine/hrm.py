"""The Hierarchical Reasoning Model (Wang et al. 2025), TRM's predecessor, for side-by-side study.

Two networks recurse at two frequencies: a low-level module L updates z_L `L_cycles` times from (z_H + x), then the
high-level module H updates z_H once from z_L; `H_cycles` such cycles make one supervision step. Only the last L and
the last H update carry gradients (the one-step gradient approximation); the answer is read from z_H. Halting is
Q-learning: halt when q_halt > q_continue, q_continue trained toward the next step's sigmoid(max(q_halt, q_continue))
(the bootstrapped target, trainers.loop). Behaviour and weights follow the reference `hrm_act_v1`.

The model has the TRM interface (`embed`, `initial_state`, `latent_recursion`, `forward`, `read_out`) with
y = z_H and z = z_L, so the step iterator, the trainer and the window run either.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from engine.config import ArchConfig
from engine.model import TRM, Block, Rotary, StepOutput, add_input_embeddings, linear, trunc_normal_

ARCH = "hrm"


@dataclass
class HRMConfig(ArchConfig):
    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2  # high-level updates per supervision step
    L_cycles: int = 2  # low-level updates per high-level update
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    pos_encodings: Literal["rope", "learned"] = "rope"
    puzzle_emb_ndim: int = 0  # the paper: hidden_size; 0 = no puzzle embedding
    num_puzzle_identifiers: int = 1
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    forward_dtype: str = "bfloat16"

    # What HRM fixes and TRM leaves open, under TRM's names so shared code reads either config.
    mixer = "attention"
    no_ACT_continue = False  # halt when q_halt > q_continue

    POS_ENCODINGS: ClassVar[tuple[str, ...]] = ("rope", "learned")
    AT_LEAST_ONE: ClassVar[tuple[str, ...]] = ("H_layers", "L_layers", "H_cycles", "L_cycles", "halt_max_steps")

    def __post_init__(self) -> None:
        self.check_shared()

    @property
    def prefix_len(self) -> int:
        """Puzzle-embedding positions: ceil(puzzle_emb_ndim / hidden_size), as in the reference."""
        return -(self.puzzle_emb_ndim // -self.hidden_size) if self.puzzle_emb_ndim > 0 else 0


class Level(nn.Module):
    """One reasoning module: state + injection, then post-norm attention blocks."""

    def __init__(self, cfg: HRMConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg) for _ in range(num_layers))

    def forward(self, state: torch.Tensor, injection: torch.Tensor, rotary: Rotary | None) -> torch.Tensor:
        h = state + injection
        for layer in self.layers:
            h = layer(h, rotary)
        return h


class HRM(nn.Module):
    arch = ARCH

    def __init__(self, cfg: HRMConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden_size
        add_input_embeddings(self, cfg)
        self.rotary = Rotary(D // cfg.num_heads, cfg.total_len, cfg.rope_theta) if cfg.pos_encodings == "rope" else None
        self.H_level = Level(cfg, cfg.H_layers)
        self.L_level = Level(cfg, cfg.L_layers)
        self.lm_head = linear(D, cfg.vocab_size)
        self.q_head = linear(D, 2, bias=True)
        self.q_head.weight.data.zero_()
        self.q_head.bias.data.fill_(-5.0)
        self.register_buffer("H_init", trunc_normal_(torch.empty(D), std=1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(D), std=1.0))

    # The input embedding (tokens, puzzle prefix, learned positions, sqrt(D) scale) and the two heads are TRM's.
    embed = TRM.embed
    read_out = TRM.read_out

    def initial_state(self, batch_size: int, cells: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_H, z_L) at their fixed random initial values, for `cells` puzzle cells (default the model's)."""
        shape = (batch_size, self.cfg.prefix_len + (cells or self.cfg.seq_len), self.cfg.hidden_size)
        return self.H_init.expand(shape).clone(), self.L_init.expand(shape).clone()

    # ---- the recursion -------------------------------------------------------------------------------------
    def updates(self, x: torch.Tensor, z_H: torch.Tensor, z_L: torch.Tensor
                ) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """One high-level cycle, update by update: ("L", z_H, z_L) after each low-level update, then ("H", ...)."""
        for _ in range(self.cfg.L_cycles):
            z_L = self.L_level(z_L, z_H + x, self.rotary)
            yield "L", z_H, z_L
        z_H = self.H_level(z_H, z_L, self.rotary)
        yield "H", z_H, z_L

    def latent_recursion(self, x, z_H, z_L):
        """One high-level cycle: L_cycles low-level updates with input injection, then one high-level update."""
        for _ in range(self.cfg.L_cycles):
            z_L = self.L_level(z_L, z_H + x, self.rotary)
        return self.H_level(z_H, z_L, self.rotary), z_L

    def deep_recursion(self, x, z_H, z_L):
        """H_cycles x L_cycles updates; only the last L and the last H update carry gradients (one-step gradient)."""
        cfg = self.cfg
        with torch.no_grad():
            for cycle in range(cfg.H_cycles):
                for update in range(cfg.L_cycles):
                    if cycle < cfg.H_cycles - 1 or update < cfg.L_cycles - 1:
                        z_L = self.L_level(z_L, z_H + x, self.rotary)
                if cycle < cfg.H_cycles - 1:
                    z_H = self.H_level(z_H, z_L, self.rotary)
        z_L = self.L_level(z_L, z_H + x, self.rotary)
        z_H = self.H_level(z_H, z_L, self.rotary)
        return z_H, z_L

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> StepOutput:
        """One supervision step from (z_H, z_L) = (y, z)."""
        z_H, z_L = self.deep_recursion(x, y, z)
        logits, q_halt, q_continue = self.read_out(z_H)
        return StepOutput(z_H.detach(), z_L.detach(), logits, q_halt, q_continue)
