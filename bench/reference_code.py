"""The reference implementation's own model code (a SamsungSAILMontreal/TinyRecursiveModels checkout the user fetched),
set up to run beside the engine on the same weights: for the side-by-side benchmarks, never vendored.

Only the model files are imported (models/recursive_reasoning/trm.py, layers.py, losses.py, sparse_embedding.py,
ema.py). What a CPU venv lacks is stood in for: `einops.rearrange` (the one pattern the layers use) and pydantic's
BaseModel (a plain attribute bag), and only when the real package is missing. The optimiser is the one difference
left: the reference trains with AdamATan2, a CUDA extension; here torch.optim.AdamW (same moments, eps in place of
atan2) does its part.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.config import TRMConfig
from engine.model import TRM

SHIMS = {
    "einops": "def rearrange(t, pattern):\n    assert pattern in ('B S H D -> B H S D', 'B H S D -> B S H D')\n"
              "    return t.transpose(1, 2)\n",
    "pydantic": "class BaseModel:\n    def __init__(self, **kw):\n        self.__dict__.update(kw)\n",
}
OUR_NAMES = {  # our state-dict name -> the reference's (under `inner.`)
    "embed_tokens.weight": "embed_tokens.embedding_weight",
    "embed_pos.weight": "embed_pos.embedding_weight",
    "puzzle_emb.weight": "puzzle_emb.weights",
    "y_init": "H_init",
    "z_init": "L_init",
}


class ReferenceMissing(RuntimeError):
    """The path is not a TinyRecursiveModels checkout."""


def import_reference(checkout: Path):
    """The reference's model module namespace: (trm, losses, sparse_embedding, ema) modules."""
    checkout = Path(checkout).resolve()
    if not (checkout / "models" / "recursive_reasoning" / "trm.py").is_file():
        raise ReferenceMissing(f"{checkout}: no models/recursive_reasoning/trm.py (fetch TinyRecursiveModels there)")
    shim_dir = Path(tempfile.mkdtemp(prefix="trm-ref-shims-"))
    for name, code in SHIMS.items():
        if importlib.util.find_spec(name) is None:
            (shim_dir / f"{name}.py").write_text(code)
    sys.path[:0] = [str(checkout), str(shim_dir)]
    from models import ema, losses, sparse_embedding
    from models.recursive_reasoning import trm

    return trm, losses, sparse_embedding, ema


def reference_arch(cfg: TRMConfig, batch: int, dtype: str) -> dict:
    """The reference's arch config for our TRMConfig (mlp_t or attention with rope/learned/none)."""
    if cfg.pos_encodings == "relative2d":
        raise ValueError("the reference has no relative2d position encoding: compare with rope")
    return dict(batch_size=batch, seq_len=cfg.seq_len, puzzle_emb_ndim=cfg.puzzle_emb_ndim,
                num_puzzle_identifiers=cfg.num_puzzle_identifiers, vocab_size=cfg.vocab_size,
                H_cycles=cfg.H_cycles, L_cycles=cfg.L_cycles, H_layers=0, L_layers=cfg.L_layers,
                hidden_size=cfg.hidden_size, expansion=cfg.expansion, num_heads=cfg.num_heads,
                pos_encodings=cfg.pos_encodings, halt_max_steps=cfg.halt_max_steps,
                halt_exploration_prob=cfg.halt_exploration_prob, forward_dtype=dtype, mlp_t=cfg.mixer == "mlp",
                puzzle_emb_len=cfg.prefix_len, no_ACT_continue=cfg.no_ACT_continue, rms_norm_eps=cfg.rms_norm_eps,
                rope_theta=cfg.rope_theta)


def load_ours_into(ref_model: torch.nn.Module, ours: TRM) -> None:
    """Copy our weights into the reference ACT model (`inner.` names), so both compute the same function."""
    state = ref_model.state_dict()
    with torch.no_grad():
        for name, tensor in ours.state_dict().items():
            short = OUR_NAMES.get(name, name.replace("net.", "L_level.", 1))
            key = f"inner.{short}"
            if key not in state:
                raise KeyError(f"the reference model has no {key} (for our {name})")
            state[key].copy_(tensor.to(state[key].dtype))


@dataclass
class ReferenceTrainer:
    """One training step as the reference's pretrain.train_batch runs it: ACTLossHead forward, backward of loss /
    global batch, sign-SGD on the puzzle-embedding rows, AdamW on the rest, EMA update (EMAHelper)."""

    head: torch.nn.Module
    optimizers: list
    lrs: list[float]
    ema: object
    carry: object = None

    @classmethod
    def build(cls, checkout: Path, ours: TRM, batch: int, *, lr: float, emb_lr: float, weight_decay: float,
              emb_weight_decay: float, ema_rate: float, loss: str, dtype: str = "float32") -> ReferenceTrainer:
        trm, losses, sparse_embedding, ema = import_reference(checkout)
        model = trm.TinyRecursiveReasoningModel_ACTV1(reference_arch(ours.cfg, batch, dtype))
        load_ours_into(model, ours)
        head = losses.ACTLossHead(model, loss_type=f"{loss}_cross_entropy").train()
        if loss == "softmax":  # its softmax loss lacks the valid_mask argument the head passes (stablemax has it)
            head.loss_fn = lambda logits, labels, ignore_index, valid_mask: losses.softmax_cross_entropy(
                logits, labels, ignore_index=ignore_index)
        optimizers, lrs = [], []
        if ours.cfg.puzzle_emb_ndim > 0:
            optimizers.append(sparse_embedding.CastedSparseEmbeddingSignSGD_Distributed(
                model.inner.puzzle_emb.buffers(), lr=0, weight_decay=emb_weight_decay, world_size=1))
            lrs.append(emb_lr)
        optimizers.append(torch.optim.AdamW(head.parameters(), lr=0, weight_decay=weight_decay, betas=(0.9, 0.95)))
        lrs.append(lr)
        helper = ema.EMAHelper(mu=ema_rate)
        helper.register(head)
        return cls(head, optimizers, lrs, helper)

    def step(self, inputs: torch.Tensor, labels: torch.Tensor, puzzle_ids: torch.Tensor) -> float:
        batch = {"inputs": inputs, "labels": labels, "puzzle_identifiers": puzzle_ids.to(torch.int32)}
        if self.carry is None:
            self.carry = self.head.initial_carry(batch)
        self.carry, loss, _metrics, _, _ = self.head(carry=self.carry, batch=batch, return_keys=[])
        ((1 / inputs.shape[0]) * loss).backward()
        for opt, lr in zip(self.optimizers, self.lrs, strict=True):
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            opt.zero_grad()
        self.ema.update(self.head)
        return float(loss.detach())
