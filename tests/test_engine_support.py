"""Models whose behaviour the tests control, for the engine's and the commands' tests.

`mapping_model` has hand-set weights: every network weight is zero, so each block reduces to RMSNorm and the states
y and z settle on the (one-hot) token embedding of each cell; the lm head then maps input token v to output token
`mapping[v]`, and the Q head reads the first cell's token, so the halting probability is chosen per first token.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.config import TRMConfig
from engine.inference import SolveOptions, solve_steps
from engine.model import TRM
from engine.puzzles.base import Encoding


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: these models are tiny, and two spinning threads on a shared 2-core machine are 8x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mapping_model(encoding: Encoding, mapping: dict[int, int], halt_logits: dict[int, float] | None = None,
                  default_halt_logit: float = -4.0, hidden: int = 16, mixer: str = "attention") -> TRM:
    V = encoding.vocab_size
    assert hidden >= V
    cfg = TRMConfig(vocab_size=V, seq_len=encoding.seq_len, hidden_size=hidden, num_heads=2, expansion=2.0,
                    H_cycles=2, L_cycles=2, mixer=mixer, pos_encodings="none", forward_dtype="float32")
    model = TRM(cfg)
    with torch.no_grad():
        for p in model.net.parameters():
            p.zero_()
        model.y_init.zero_()
        model.z_init.zero_()
        model.embed_tokens.weight.copy_(torch.eye(V, hidden))
        lm = torch.zeros(V, hidden)
        for v in range(V):
            lm[mapping.get(v, v), v] = 3.0
        model.lm_head.weight.copy_(lm)
        model.q_head.weight.zero_()
        model.q_head.bias.copy_(torch.tensor([default_halt_logit, 0.0]))
        for v, logit in (halt_logits or {}).items():
            model.q_head.weight[0, v] = (logit - default_halt_logit) / math.sqrt(hidden)
    return model.eval()


def test_mapping_model_maps_tokens_and_halts_by_first_token():
    enc = Encoding(kind="sudoku", rows=4, cols=4, vocab_size=6, seq_len=16)
    model = mapping_model(enc, {1: 3}, halt_logits={2: 3.0})
    inputs = torch.tensor([[2] + [1] * 15, [4] + [1] * 15])
    step = next(solve_steps(model, inputs, options=SolveOptions(max_steps=1, device="cpu")))
    expected = np.where(inputs.numpy() == 1, 3, inputs.numpy())
    assert np.array_equal(step.tokens.numpy(), expected)
    assert step.confidence.min() > 0.99
    assert np.allclose(step.halt_prob.numpy(), [1 / (1 + math.exp(-3.0)), 1 / (1 + math.exp(4.0))], atol=1e-4)
