"""The Tiny Recursive Model: one small network applied recursively (Jolicoeur-Martineau 2025).

Names follow the paper: x is the embedded question, y the current answer (the reference's z_H) and z the latent
reasoning state (z_L). Weights and behaviour match the reference implementation; the recursion is in
`latent_recursion` / `deep_recursion` / `forward` at the bottom of this file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import TRMConfig


def trunc_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """Truncated normal at +-2 sigma, rescaled so the *truncated* distribution has standard deviation `std`."""
    if std == 0:
        return tensor.zero_()
    s = std / 0.87962566103423978
    return nn.init.trunc_normal_(tensor, std=s, a=-2 * s, b=2 * s)


def rms_norm(x: torch.Tensor, eps: float, dim: int = -1) -> torch.Tensor:
    """Weightless RMSNorm computed in float32 (post-norm, as in the reference)."""
    dtype = x.dtype
    wide = x.to(torch.promote_types(dtype, torch.float32))
    if wide.requires_grad or dim not in (-1, x.ndim - 1):
        return (wide * torch.rsqrt(wide.square().mean(dim, keepdim=True) + eps)).to(dtype)
    # No autograd: one fused reduction and in-place updates, about twice as fast on CPU.
    inv = torch.linalg.vector_norm(wide, dim=-1, keepdim=True).square_().div_(x.shape[-1]).add_(eps).rsqrt_()
    return (wide * inv if wide is x else wide.mul_(inv)).to(dtype)


def residual_norm(h: torch.Tensor, delta: torch.Tensor, eps: float, dim: int = -1) -> torch.Tensor:
    """rms_norm(h + delta). Without autograd `delta` (a sublayer's fresh output) takes the sum and is normalised in
    place: no new tensor per block, which is most of the non-matmul time at batch 1."""
    if torch.is_grad_enabled() or delta.dtype != torch.float32:
        return rms_norm(h + delta, eps, dim)
    out = delta.add_(h)
    if dim in (-1, out.ndim - 1):
        inv = torch.linalg.vector_norm(out, dim=-1, keepdim=True).square_().div_(out.shape[-1])
    else:  # across positions (the sequence MLP): the plain mean of squares, as rms_norm computes it
        inv = out.square().mean(dim, keepdim=True)
    return out.mul_(inv.add_(eps).rsqrt_())


def silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up, in place on `gate` (a view of a fresh projection) when no gradient is recorded."""
    if torch.is_grad_enabled():
        return F.silu(gate) * up
    return F.silu(gate, inplace=True).mul_(up)


def swiglu_width(dim: int, expansion: float) -> int:
    """Intermediate size of the reference's SwiGLU: 2/3 * expansion * dim, rounded up to a multiple of 256."""
    inter = round(expansion * dim * 2 / 3)
    return -(inter // -256) * 256


def linear(in_features: int, out_features: int, bias: bool = False) -> nn.Linear:
    layer = nn.Linear(in_features, out_features, bias=bias)
    trunc_normal_(layer.weight.data, std=1.0 / math.sqrt(in_features))
    if bias:
        layer.bias.data.zero_()
    return layer


class SwiGLU(nn.Module):
    def __init__(self, dim: int, expansion: float):
        super().__init__()
        inter = swiglu_width(dim, expansion)
        self.gate_up_proj = linear(dim, 2 * inter)
        self.down_proj = linear(inter, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(silu_mul(gate, up))


def left_multiply(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """w @ h[b] for every b without copying h: `torch.matmul(w, h)` would copy its result through a transpose, and
    a batched product of one puzzle would run on one thread, so a single puzzle gets a plain product."""
    if h.shape[0] == 1:
        return torch.mm(w, h[0]).unsqueeze(0)
    return torch.bmm(w.expand(h.shape[0], -1, -1), h)


class SequenceMLP(SwiGLU):
    """SwiGLU across positions (the reference's mlp_t), applied as W @ h so no transpose is materialised."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (B, S, D) -> (B, S, D)
        gate, up = left_multiply(self.gate_up_proj.weight, h).chunk(2, dim=-2)
        return left_multiply(self.down_proj.weight, silu_mul(gate, up))


class Rotary(nn.Module):
    """RoPE tables, always float32: the reference rotates q and k in float32 even when the model runs in bfloat16."""

    def __init__(self, head_dim: int, length: int, theta: float):
        super().__init__()
        self.spec = (head_dim, length, theta)
        cos, sin = self._tables(torch.device("cpu"))
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        head_dim, length, theta = self.spec
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
        freqs = torch.outer(torch.arange(length, dtype=torch.float32, device=device), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def _apply(self, fn, recurse=True):  # model.to(dtype) must not round the tables
        super()._apply(fn, recurse)
        self.cos, self.sin = self._tables(self.cos.device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, H, S, Dh)
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        wide = torch.promote_types(x.dtype, torch.float32)
        return (x.to(wide) * self.cos.to(wide) + rotated.to(wide) * self.sin.to(wide)).to(x.dtype)


def local_prior(num_heads: int, reach: int) -> torch.Tensor:
    """-2 * slope * (|row offset| + |column offset|) for every offset below `reach` (a side x side canvas has reach
    side, a w x w window reach w // 2 + 1), with slopes 1, 1/2, 1/4 ... per head (a 2D ALiBi): heads start looking
    at their neighbourhoods, from the nearest cells to wide. Started at zero (uniform attention), a maze model stayed
    at the trivial "every open cell is path" for 1,000 steps; with this it solved 70% of 9 x 9 mazes."""
    dr, dc = torch.meshgrid(torch.arange(1 - reach, reach), torch.arange(1 - reach, reach), indexing="ij")
    distance = (dr.abs() + dc.abs()).float().reshape(-1)
    slopes = 2.0 ** -torch.arange(num_heads).float()
    return -2.0 * slopes[:, None] * distance


def resize_table(table: torch.Tensor, num_heads: int, side: int) -> torch.Tensor:
    """A bias table for a `side` canvas: the offsets both canvases share keep their learnt values, farther ones (a
    larger canvas) start from the local prior."""
    old = (math.isqrt(table.shape[-1]) + 1) // 2
    out = local_prior(num_heads, side).to(table).view(num_heads, 2 * side - 1, 2 * side - 1)
    keep = min(old, side)
    shared = table.view(num_heads, 2 * old - 1, 2 * old - 1)[:, old - keep: old + keep - 1, old - keep: old + keep - 1]
    out[:, side - keep: side + keep - 1, side - keep: side + keep - 1] = shared
    return out.reshape(num_heads, -1)


class RelativeBias2D(nn.Module):
    """A learned attention bias per head for every (row offset, column offset) on the square token grid, shared by
    all layers (T5/Swin style); puzzle-embedding prefix positions get no bias. Unlike 1D RoPE over the flattened
    grid, "look one row up" is a single parameter, which is what maze routing is made of.

    With a `window`, each cell attends only to the window x window cells around it (neighbourhood attention): the
    table holds those offsets alone, so the same weights compute the same thing on a canvas of any size, and a
    step costs the same per cell however large the grid is."""

    def __init__(self, num_heads: int, side: int, prefix_len: int, window: int = 0):
        super().__init__()
        self.window, self.prefix_len = window, prefix_len
        if window:
            self.table = nn.Parameter(local_prior(num_heads, window // 2 + 1))
            # Offsets that fall outside the grid get -inf: a border cell has fewer neighbours, not padding ones.
            r = window // 2
            rows = torch.arange(side)[:, None] + torch.arange(-r, r + 1)[None, :]  # (side, window)
            inside = (rows >= 0) & (rows < side)
            outside = ~(inside[:, None, :, None] & inside[None, :, None, :])  # (side, side, window, window)
            self.register_buffer("outside", torch.zeros(outside.shape).masked_fill(outside, float("-inf")),
                                 persistent=False)
            return
        self.side = side
        self.table = nn.Parameter(local_prior(num_heads, side))
        rows, cols = torch.arange(side * side) // side, torch.arange(side * side) % side
        index = (rows[:, None] - rows[None, :] + side - 1) * (2 * side - 1) + cols[:, None] - cols[None, :] + side - 1
        self.register_buffer("index", index, persistent=False)

    def forward(self, cells: int | None = None) -> torch.Tensor:
        """(heads, S, S) added to the attention scores; with a window (heads, side, side, window, window).
        `cells`: a smaller square canvas than the table's (the trainer's smaller batch streams), by the same
        parameters, so gradients reach the one table."""
        if self.window:  # the table is indexed by (query - key) offsets like the whole-grid one; window_attention
            w = self.window  # walks (key - query) offsets, hence the flip
            return self.table.view(-1, w, w).flip(1, 2).view(-1, 1, 1, w, w) + self.outside
        index = self.index
        if cells is not None and cells != index.shape[0]:
            side = math.isqrt(cells)
            if side * side != cells or side > self.side:
                raise ValueError(f"{cells} cells are not a square canvas of at most {self.side} x {self.side}")
            # Offsets do not depend on where a canvas lies: a smaller one is the table canvas's top-left corner.
            steps = torch.arange(side, device=index.device)
            corner = (steps[:, None] * self.side + steps).reshape(-1)
            index = index[corner][:, corner]
        return F.pad(self.table[:, index], (self.prefix_len, 0, self.prefix_len, 0))


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Attention of every cell over the window x window cells around it; `bias` is RelativeBias2D's windowed
    (heads, side, side, window, window), -inf off the grid. One shifted product per offset of the zero-padded keys
    and values: the cost per cell does not grow with the grid."""
    B, H, S, Dh = q.shape
    side, w = bias.shape[1], bias.shape[-1]
    r = w // 2
    grid = (B, H, side, side, Dh)
    keys = F.pad(k.view(grid), (0, 0, r, r, r, r))
    values = F.pad(v.view(grid), (0, 0, r, r, r, r))
    offsets = [(i, j) for i in range(w) for j in range(w)]
    query = q.view(grid) * Dh ** -0.5
    scores = torch.stack([(query * keys[:, :, i: i + side, j: j + side]).sum(-1) for i, j in offsets], -1)
    weights = (scores + bias.flatten(-2)).softmax(-1)  # (B, H, side, side, w * w)
    out = sum(weights[..., n, None] * values[:, :, i: i + side, j: j + side] for n, (i, j) in enumerate(offsets))
    return out.view(B, H, S, Dh)


Positions = Rotary | torch.Tensor | None  # what attention is told about positions: RoPE tables or a score bias


def attention_with_learnt_bias(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v written out: the bias is trained, and torch's attention kernel does not
    return a gradient for its mask, so with one it falls back to a path that also checks every row for -inf and
    scales q and k separately. The scale goes into q, the smallest operand; torch.compile fuses bias and softmax."""
    scores = torch.matmul(q * (q.shape[-1] ** -0.5), k.transpose(-1, -2)) + bias
    return torch.matmul(scores.softmax(-1), v)


class Attention(nn.Module):
    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.head_dim = cfg.hidden_size // cfg.num_heads
        self.qkv_proj = linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.o_proj = linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, h: torch.Tensor, positions: Positions) -> torch.Tensor:
        B, S, D = h.shape
        q, k, v = self.qkv_proj(h).view(B, S, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if isinstance(positions, Rotary):
            q, k = positions(q), positions(k)
        if isinstance(positions, torch.Tensor) and positions.ndim == 5:
            out = window_attention(q, k, v, positions.to(q.dtype))
        elif isinstance(positions, torch.Tensor) and positions.requires_grad:
            out = attention_with_learnt_bias(q, k, v, positions.to(q.dtype))
        else:
            # A 4D bias takes torch's fast CPU kernel; a 3D one is 4x slower.
            bias = positions.to(q.dtype)[None] if isinstance(positions, torch.Tensor) else None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.o_proj(out.transpose(1, 2).reshape(B, S, D))


class Block(nn.Module):
    """Post-norm block: token mixing (attention or sequence MLP), then a channel SwiGLU."""

    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.eps = cfg.rms_norm_eps
        self.sequence_mixing = cfg.mixer == "mlp"
        if self.sequence_mixing:
            self.mlp_t = SequenceMLP(cfg.total_len, cfg.expansion)
        else:
            self.self_attn = Attention(cfg)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.expansion)

    def forward(self, h: torch.Tensor, positions: Positions) -> torch.Tensor:
        if self.sequence_mixing:
            # The reference runs mlp_t on the transposed state (B, D, S), so this norm is over positions.
            h = residual_norm(h, self.mlp_t(h), self.eps, dim=-2)
        else:
            h = residual_norm(h, self.self_attn(h, positions), self.eps)
        return residual_norm(h, self.mlp(h), self.eps)


class Network(nn.Module):
    """The one tiny network: net(state, injection) = blocks(state + injection)."""

    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.L_layers))

    def forward(self, state: torch.Tensor, injection: torch.Tensor, positions: Positions) -> torch.Tensor:
        h = state + injection
        for layer in self.layers:
            h = layer(h, positions)
        return h


@dataclass
class StepOutput:
    y: torch.Tensor  # answer state after this supervision step (detached: the carry)
    z: torch.Tensor  # latent state after this supervision step (detached: the carry)
    logits: torch.Tensor  # (B, seq_len, vocab)
    q_halt: torch.Tensor  # (B,) float32 logit: "the current answer is right"
    q_continue: torch.Tensor  # (B,) float32 logit (used only when no_ACT_continue is False)


def add_input_embeddings(module: nn.Module, cfg) -> None:
    """The token, puzzle-identifier and learned-position embeddings `TRM.embed` reads (TRM and HRM share them, with
    the same parameter names and initialisation order as the reference)."""
    D = cfg.hidden_size
    module.embed_scale = math.sqrt(D)
    module.embed_tokens = nn.Embedding(cfg.vocab_size, D)
    trunc_normal_(module.embed_tokens.weight.data, std=1.0 / module.embed_scale)
    if cfg.puzzle_emb_ndim > 0:
        # Zero-initialised, as in the reference; trained with its own learning rate (trainers.loop).
        module.puzzle_emb = nn.Embedding(cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim)
        module.puzzle_emb.weight.data.zero_()
    if cfg.pos_encodings == "learned":
        module.embed_pos = nn.Embedding(cfg.total_len, D)
        trunc_normal_(module.embed_pos.weight.data, std=1.0 / module.embed_scale)


class TRM(nn.Module):
    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden_size
        add_input_embeddings(self, cfg)
        self.rotary = (
            Rotary(D // cfg.num_heads, cfg.total_len, cfg.rope_theta)
            if cfg.pos_encodings == "rope" and cfg.mixer == "attention"
            else None
        )
        if cfg.pos_encodings == "relative2d":
            self.relative_bias = RelativeBias2D(cfg.num_heads, cfg.grid_side, cfg.prefix_len, cfg.attention_window)
        self.net = Network(cfg)
        self.lm_head = linear(D, cfg.vocab_size)
        self.q_head = linear(D, 2, bias=True)
        self.q_head.weight.data.zero_()
        self.q_head.bias.data.fill_(-5.0)  # start by almost never halting
        # Fixed random initial states (buffers in the reference, not trained).
        self.register_buffer("y_init", trunc_normal_(torch.empty(D), std=1.0))
        self.register_buffer("z_init", trunc_normal_(torch.empty(D), std=1.0))

    def embed(self, inputs: torch.Tensor, puzzle_ids: torch.Tensor | None = None) -> torch.Tensor:
        """x: token embeddings with the puzzle-embedding prefix, scaled by sqrt(hidden)."""
        cfg = self.cfg
        x = self.embed_tokens(inputs.long())
        if cfg.prefix_len:
            if puzzle_ids is None:
                puzzle_ids = torch.zeros(inputs.shape[0], dtype=torch.long, device=inputs.device)
            p = self.puzzle_emb(puzzle_ids.long())
            p = F.pad(p, (0, cfg.prefix_len * cfg.hidden_size - p.shape[-1]))
            x = torch.cat((p.view(-1, cfg.prefix_len, cfg.hidden_size).to(x.dtype), x), dim=1)
        if cfg.pos_encodings == "learned":
            x = 0.707106781 * (x + self.embed_pos.weight.to(x.dtype))
        return self.embed_scale * x

    def initial_state(self, batch_size: int, cells: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, z) to start from, for `cells` puzzle cells (default the model's sequence length)."""
        shape = (batch_size, self.cfg.prefix_len + (cells or self.cfg.seq_len), self.cfg.hidden_size)
        return self.y_init.expand(shape).clone(), self.z_init.expand(shape).clone()

    def positions(self, x: torch.Tensor):
        """What attention knows of positions for x's canvas: the relative2d bias (any square canvas up to the
        model's), or the RoPE tables."""
        if self.cfg.pos_encodings == "relative2d":
            return self.relative_bias(x.shape[1] - self.cfg.prefix_len)
        return self.rotary

    # ---- the recursion -------------------------------------------------------------------------------------
    def latent_recursion(self, x, y, z):
        """n times z = net(z, x + y), then y = net(y, z): refine the reasoning, then the answer once."""
        injection = y + x  # fixed while z is refined
        positions = self.positions(x)
        for _ in range(self.cfg.L_cycles):
            z = self.net(z, injection, positions)
        y = self.net(y, z, positions)
        return y, z

    def updates(self, x, y, z) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """`latent_recursion` update by update, to watch it: ("L", y, z) after each z update, then ("H", y, z)."""
        injection = y + x
        positions = self.positions(x)
        for _ in range(self.cfg.L_cycles):
            z = self.net(z, injection, positions)
            yield "L", y, z
        yield "H", self.net(y, z, positions), z

    def deep_recursion(self, x, y, z):
        """T latent recursions; only the last one carries gradients."""
        with torch.no_grad():
            for _ in range(self.cfg.H_cycles - 1):
                y, z = self.latent_recursion(x, y, z)
        return self.latent_recursion(x, y, z)

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> StepOutput:
        """One supervision step: deep recursion, then read the answer (lm head) and halting (Q head)."""
        y, z = self.deep_recursion(x, y, z)
        logits, q_halt, q_continue = self.read_out(y)
        return StepOutput(y.detach(), z.detach(), logits, q_halt, q_continue)

    def read_out(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Answer logits from y's token positions; halting logits (float32) from its first position."""
        q = self.q_head(y[:, 0]).float()
        return self.lm_head(y[:, self.cfg.prefix_len :]), q[:, 0], q[:, 1]


def with_canvas(model: TRM, side: int) -> TRM:
    """The same relative2d model on a side x side canvas. Attention weights do not depend on the canvas and the bias
    table is resized, so a maze model can run on each maze's own size: no padding it never saw, and larger mazes."""
    cfg = replace(model.cfg, seq_len=side * side)
    state = dict(model.state_dict())
    if not cfg.attention_window:  # a windowed table is the same on every canvas
        state["relative_bias.table"] = resize_table(state["relative_bias.table"], cfg.num_heads, side)
    out = TRM(cfg)
    out.load_state_dict(state)
    return out.to(next(model.parameters()).device).train(model.training)


def compile_network(model: TRM) -> TRM:
    """torch.compile the one network in place, so module names (and checkpoints) stay as they are. Every update of
    the recursion calls the same network, so two graphs (with and without gradients) serve them all: compiling
    takes a fraction of the time of the unrolled recursion, and fusing the elementwise work (norms, SwiGLU,
    attention bias and softmax, and their backward) is what pays on a CPU. Without a working compiler the network
    runs as it is."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    for name in ("net", "H_level", "L_level"):  # TRM's one network, HRM's two modules
        if hasattr(model, name):
            getattr(model, name).compile(dynamic=False)
    return model


def count_parameters(model: TRM, include_embeddings: bool = False) -> int:
    """Parameters of the recursive network and heads; embeddings (token, puzzle, position) are excluded by default."""
    embeddings = ("embed_tokens.", "puzzle_emb.", "embed_pos.")
    return sum(
        p.numel() for n, p in model.named_parameters() if include_embeddings or not n.startswith(embeddings)
    )
