"""The losses of the paper: stablemax or softmax cross-entropy on the answer, binary cross-entropy on halting.

Stablemax (Prieto et al. 2025, used by the reference for Sudoku/maze/ARC) replaces exp with
s(x) = x + 1 for x >= 0 and 1 / (1 - x) for x < 0, which avoids softmax collapse on small data. The reference
computes it in float64; so do we.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_LABEL_ID = -100


def stablemax_s(x: torch.Tensor, epsilon: float = 1e-30) -> torch.Tensor:
    """The stablemax transform s(x): linear above zero, a reciprocal below, always positive."""
    return torch.where(x < 0, 1 / (1 - x + epsilon), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID
) -> torch.Tensor:
    """Per-token loss (same shape as labels, float64); ignored positions give 0."""
    logprobs = log_stablemax(logits.to(torch.float64), dim=-1)
    valid = labels != ignore_index
    safe = torch.where(valid, labels, 0).long().unsqueeze(-1)
    picked = logprobs.gather(-1, safe).squeeze(-1)
    return -torch.where(valid, picked, 0)


def softmax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID
) -> torch.Tensor:
    """Per-token loss (same shape as labels, float32); ignored positions give 0."""
    flat = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.long().reshape(-1),
                           ignore_index=ignore_index, reduction="none")
    return flat.view(labels.shape)


LOSSES = {"stablemax": stablemax_cross_entropy, "softmax": softmax_cross_entropy}


def sequence_lm_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str = "stablemax") -> torch.Tensor:
    """Sum over the batch of each sequence's mean token loss (the reference's `lm_loss`)."""
    valid = labels != IGNORE_LABEL_ID
    per_token = LOSSES[kind](logits, labels)
    counts = valid.sum(-1, keepdim=True).clamp_min(1)
    return (per_token / counts).sum()


def sequence_is_correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B,) bool: every labelled position predicted right (the Q-halt target)."""
    valid = labels != IGNORE_LABEL_ID
    right = valid & (logits.argmax(-1) == labels)
    return right.sum(-1) == valid.sum(-1)


def q_halt_loss(q_halt_logits: torch.Tensor, seq_correct: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (summed over the batch) teaching the Q head to predict "the answer is already right"."""
    return F.binary_cross_entropy_with_logits(
        q_halt_logits.float(), seq_correct.to(torch.float32), reduction="sum"
    )


def q_continue_loss(q_continue_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (summed) toward the bootstrapped "continue" target (only with no_ACT_continue=False)."""
    return F.binary_cross_entropy_with_logits(q_continue_logits.float(), target.float(), reduction="sum")
