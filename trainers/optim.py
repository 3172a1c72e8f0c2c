"""The two optimizers of the reference recipe, small enough to read (and cheap to import: torch.optim pulls in
torch._dynamo, seconds per process on a busy CPU).

- `AdamW`: Adam with decoupled weight decay (p -= lr * wd * p), bias-corrected moments; same update as
  torch.optim.AdamW. The reference uses AdamATan2 (Adam with atan2 in place of eps), which behaves the same away from
  tiny second moments.
- `sign_sgd_rows_`: the reference's sparse puzzle-embedding optimizer (sign-SGD with decoupled weight decay) applied to
  the embedding rows the batch used.
"""

from __future__ import annotations

import math

import torch


class AdamW:
    def __init__(self, params: list[torch.nn.Parameter], *, betas: tuple[float, float] = (0.9, 0.95),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = list(params)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            g = p.grad
            p.mul_(1 - lr * self.weight_decay)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
            p.addcdiv_(m, denom, value=-lr / bc1)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {"t": torch.tensor(self.t, dtype=torch.int64)}
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            out[f"m/{i}"], out[f"v/{i}"] = m, v
        return out

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        if "t" not in state:  # written by torch.optim.AdamW (checkpoints of the first runs): {i}/exp_avg, ...
            state = {"t": state["0/step"], **{f"m/{k.split('/')[0]}": v for k, v in state.items()
                                            if k.endswith("/exp_avg")},
                     **{f"v/{k.split('/')[0]}": v for k, v in state.items() if k.endswith("/exp_avg_sq")}}
        self.t = int(state["t"])
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            m.copy_(state[f"m/{i}"])
            v.copy_(state[f"v/{i}"])


@torch.no_grad()
def sign_sgd_rows_(weight: torch.nn.Parameter, lr: float, weight_decay: float) -> None:
    """w[r] = w[r] * (1 - lr * wd) - lr * sign(grad[r]) for the rows r with a gradient (the ones a batch used)."""
    if weight.grad is None:
        return
    rows = weight.grad.abs().sum(-1) > 0
    weight[rows] = weight[rows] * (1 - lr * weight_decay) - lr * torch.sign(weight.grad[rows])
