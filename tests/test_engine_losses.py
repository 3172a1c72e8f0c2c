import math

import torch
import torch.nn.functional as F

from engine.losses import (
    log_stablemax,
    q_halt_loss,
    sequence_is_correct,
    sequence_lm_loss,
    softmax_cross_entropy,
    stablemax_cross_entropy,
)
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)


def test_stablemax_matches_its_definition_in_float64():
    logits = torch.tensor([[2.0, -1.0, 0.0]])
    s = torch.tensor([3.0, 0.5, 1.0], dtype=torch.float64)  # x + 1 above zero, 1 / (1 - x) below
    assert torch.allclose(log_stablemax(logits.double())[0], torch.log(s / s.sum()))
    loss = stablemax_cross_entropy(logits, torch.tensor([1]))
    assert loss.dtype == torch.float64
    assert math.isclose(float(loss[0]), -math.log(0.5 / 4.5), rel_tol=1e-12)


def test_ignored_positions_cost_nothing_and_valid_ones_match_torch():
    logits = torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    labels[0, 1] = labels[1, 4] = -100
    for fn in (stablemax_cross_entropy, softmax_cross_entropy):
        loss = fn(logits, labels)
        assert loss.shape == labels.shape
        assert loss[0, 1] == 0 and loss[1, 4] == 0 and (loss[labels != -100] > 0).all()
    expected = F.cross_entropy(logits.view(-1, 7), labels.view(-1), ignore_index=-100, reduction="none").view(2, 5)
    assert torch.allclose(softmax_cross_entropy(logits, labels), expected)


def test_sequence_loss_is_the_per_sequence_mean_summed_and_q_halt_targets_exact_answers():
    logits = torch.full((2, 3, 4), -2.0)
    labels = torch.tensor([[1, 2, -100], [3, 3, 3]])
    logits[0, 0, 1] = logits[0, 1, 2] = 5.0  # sequence 0 right, sequence 1 wrong
    per_token = stablemax_cross_entropy(logits, labels)
    expected = per_token[0, :2].mean() + per_token[1].mean()
    assert torch.isclose(sequence_lm_loss(logits, labels), expected)
    correct = sequence_is_correct(logits, labels)
    assert correct.tolist() == [True, False]
    q = torch.tensor([2.0, 2.0])
    assert math.isclose(float(q_halt_loss(q, correct)), math.log1p(math.exp(-2)) + math.log1p(math.exp(2)),
                        rel_tol=1e-6)
    logits.requires_grad_(True)
    sequence_lm_loss(logits, labels, "softmax").backward()
    assert logits.grad[0, 2].abs().sum() == 0  # the ignored position gets no gradient
