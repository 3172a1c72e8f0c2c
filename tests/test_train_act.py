"""The ACT training step in micro-batches computes what the whole batch computes: gradients, loss, metrics and the
carry (halting, step counts, refills) agree within float rounding, for TRM and HRM and both halting rules."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.architectures import build_model, config_from_dict
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from trainers.act import Carry, act_step, exploration_min_steps
from trainers.data import Batch

B = 8
MODELS = {
    # attention with the trained 2D bias and a puzzle embedding (its gradient rows accumulate across micro-batches)
    "trm-attention-relative2d": ("trm", dict(mixer="attention", pos_encodings="relative2d", puzzle_emb_ndim=32,
                                             puzzle_emb_len=1, num_puzzle_identifiers=5)),
    # neighbourhood attention (the maze-hard model's)
    "trm-attention-window": ("trm", dict(mixer="attention", pos_encodings="relative2d", attention_window=3)),
    # the sequence MLP, halting on q_halt > q_continue with the bootstrapped q_continue target (a second forward)
    "trm-mlp-q-continue": ("trm", dict(mixer="mlp", pos_encodings="none", no_ACT_continue=False)),
    "hrm": ("hrm", dict(H_layers=1, L_layers=1)),  # HRM always uses the q_continue target
}


def build(kind: str):
    arch, extra = MODELS[kind]
    common = dict(vocab_size=6, seq_len=16, hidden_size=32, num_heads=2, expansion=2.0, H_cycles=2, L_cycles=2,
                  halt_max_steps=3, forward_dtype="float32")
    if arch == "trm":
        common["L_layers"] = 1
    torch.manual_seed(0)
    model = build_model(config_from_dict(arch, dict(common, **extra))).train()
    with torch.no_grad():  # a live halting head: some slots halt early, some do not (zero-initialised, none would)
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.zero_()
    return model


def batches(n: int) -> list[Batch]:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        labels = torch.randint(1, 6, (B, 16), generator=g)
        labels[0, :4] = -100  # some cells not scored
        out.append(Batch(torch.randint(1, 6, (B, 16), generator=g), labels, torch.randint(0, 5, (B,), generator=g)))
    return out


def relabel_by_logits(inputs, labels, logits):
    """A per-slot relabelling that depends on the logits (as the maze one does): the argmax where the input is 1."""
    return torch.where(inputs == 1, logits.argmax(-1), labels)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_micro_batches_give_the_whole_batch_gradient_loss_and_carry(kind):
    whole = build(kind)
    split = copy.deepcopy(whole)
    carry_w = carry_s = Carry.empty(whole, batches(1)[0])
    gen = torch.Generator().manual_seed(2)
    saw_mixed_halting = False
    for step, batch in enumerate(batches(4)):
        min_steps = exploration_min_steps(gen, B, 3, 0.5)
        results = []
        for model, carry, rows in ((whole, carry_w, 0), (split, carry_s, 3)):  # 3: uneven parts of 2, 3 and 3
            model.zero_grad(set_to_none=True)
            results.append(act_step(model, carry, batch, loss="stablemax", q_loss_weight=0.5, min_steps=min_steps,
                                    grad_scale=1 / B, micro_batch=rows, relabel=relabel_by_logits))
        (carry_w, m_w), (carry_s, m_s) = results
        for name in ("steps", "halted", "inputs", "labels", "puzzle_ids"):
            assert torch.equal(getattr(carry_w, name), getattr(carry_s, name)), (kind, step, name)
        for name in ("y", "z"):
            torch.testing.assert_close(getattr(carry_s, name), getattr(carry_w, name), rtol=1e-5, atol=1e-5)
        for field in ("loss", "lm_loss", "q_halt_loss", "accuracy"):
            assert getattr(m_s, field) == pytest.approx(getattr(m_w, field), rel=1e-5, abs=1e-6), (kind, field)
        for field in ("halted", "exact", "q_halt_right", "steps", "slots"):
            assert getattr(m_s, field) == getattr(m_w, field), (kind, field)
        assert m_w.slots == B and m_w.loss > 0
        for (name, pw), ps in zip(whole.named_parameters(), split.parameters(), strict=True):
            if pw.grad is None:
                assert ps.grad is None, name
                continue
            torch.testing.assert_close(ps.grad, pw.grad, rtol=1e-4, atol=1e-6, msg=f"{kind} step {step}: {name}")
        saw_mixed_halting |= bool(carry_w.halted.any() and not carry_w.halted.all())
    assert saw_mixed_halting  # the halting bookkeeping was exercised: slots halted and continued side by side


def test_cpu_micro_batches_are_cache_sized_only_when_the_whole_batch_outgrows_the_cache():
    from engine.config import TRMConfig
    from trainers.act import LAST_LEVEL_CACHE, cpu_micro_batch

    paper = TRMConfig(vocab_size=11, seq_len=81, hidden_size=512, expansion=4.0, puzzle_emb_ndim=512,
                      puzzle_emb_len=16, mixer="mlp", pos_encodings="none")
    per_slot = 2 * 1536 * 97 * 4  # the channel SwiGLU's gate and up of one puzzle, float32
    assert cpu_micro_batch(paper, 64) == LAST_LEVEL_CACHE // 3 // per_slot == 9  # 64 slots: 8 parts of 8
    assert cpu_micro_batch(paper, 8) == 0  # 9.5 MB: whole
    bundled = TRMConfig(vocab_size=11, seq_len=81, hidden_size=64, expansion=2.0, mixer="mlp", pos_encodings="none",
                        puzzle_emb_ndim=0)
    assert cpu_micro_batch(bundled, 64) == 0


def test_a_step_left_to_choose_splits_an_oversized_batch_on_a_cpu_with_the_same_result(monkeypatch):
    import trainers.act as act

    whole = build("trm-mlp-q-continue")
    auto = copy.deepcopy(whole)
    batch = batches(1)[0]
    calls = []

    def counting(model):
        def fwd(x, y, z):
            calls.append(x.shape[0])
            return model(x, y, z)
        return fwd

    results = []
    for model, rows in ((whole, B), (auto, 0)):
        if rows == 0:  # a cache that holds three slots' activations: parts of one slot
            monkeypatch.setattr(act, "LAST_LEVEL_CACHE", 3 * 2 * 256 * 16 * 4)
        calls.clear()
        results.append(act_step(model, Carry.empty(model, batch), batch, loss="softmax", q_loss_weight=0.5,
                                min_steps=None, grad_scale=1 / B, micro_batch=rows, fwd=counting(model)))
        results[-1] += (list(calls),)
    (carry_w, m_w, calls_w), (carry_a, m_a, calls_a) = results
    assert calls_w == [B, B] and calls_a == [1] * 2 * B  # the step and its q_continue target, per part
    torch.testing.assert_close(carry_a.y, carry_w.y, rtol=1e-5, atol=1e-5)
    assert m_a.loss == pytest.approx(m_w.loss, rel=1e-5)
    for pw, pa in zip(whole.parameters(), auto.parameters(), strict=True):
        if pw.grad is not None:
            torch.testing.assert_close(pa.grad, pw.grad, rtol=1e-4, atol=1e-6)
