"""The reference's building blocks written out with plain tensor operations: the oracle that tests/test_engine_reference
(TRM) and tests/test_hrm (HRM) check our models against. `w` is the reference state dict without its prefix."""

from __future__ import annotations

import math

import torch


def embed(w: dict, inputs: torch.Tensor, puzzle_ids: torch.Tensor, prefix: int, pos: str) -> torch.Tensor:
    """Token embeddings behind `prefix` positions of puzzle embedding (zero-padded), learned positions, scaled."""
    emb = w["embed_tokens.embedding_weight"][inputs]
    B, D = inputs.shape[0], emb.shape[-1]
    pe = w["puzzle_emb.weights"][puzzle_ids]
    pe = torch.cat([pe, torch.zeros(B, prefix * D - pe.shape[1], dtype=emb.dtype)], dim=1).view(B, prefix, D)
    emb = torch.cat([pe, emb], dim=1)
    if pos == "learned":
        emb = 0.707106781 * (emb + w["embed_pos.embedding_weight"])
    return math.sqrt(D) * emb


def rope_tables(length: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (float32) for every position, as the reference's RotaryEmbedding builds them."""
    inv = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    ang = torch.outer(torch.arange(length).float(), inv)
    return torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()


def rms(h: torch.Tensor, eps: float) -> torch.Tensor:
    return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)


def swiglu(w: dict, h: torch.Tensor, pre: str) -> torch.Tensor:
    gate, up = (h @ w[pre + "gate_up_proj.weight"].T).chunk(2, dim=-1)
    return (gate * torch.sigmoid(gate) * up) @ w[pre + "down_proj.weight"].T


def rot_half(t: torch.Tensor) -> torch.Tensor:
    half = t.shape[-1] // 2
    return torch.cat([-t[..., half:], t[..., :half]], dim=-1)


def attention(w: dict, h: torch.Tensor, pre: str, heads: int, rope: tuple[torch.Tensor, torch.Tensor] | None
              ) -> torch.Tensor:
    """Self-attention without a mask; `rope` (cos, sin) rotates q and k in the wider of their dtype and the
    tables' (TRM's reference casts the tables to the forward dtype, HRM's keeps them in float32)."""
    B, S, D = h.shape
    hd = D // heads
    qkv = (h @ w[pre + "qkv_proj.weight"].T).view(B, S, 3 * heads, hd)
    q, k, v = qkv[:, :, :heads], qkv[:, :, heads : 2 * heads], qkv[:, :, 2 * heads :]
    if rope is not None:
        cos, sin = rope
        wide = torch.promote_types(q.dtype, cos.dtype)
        q = (q.to(wide) * cos[:, None] + rot_half(q.to(wide)) * sin[:, None]).to(q.dtype)
        k = (k.to(wide) * cos[:, None] + rot_half(k.to(wide)) * sin[:, None]).to(k.dtype)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
    out = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(B, S, D)
    return out @ w[pre + "o_proj.weight"].T
