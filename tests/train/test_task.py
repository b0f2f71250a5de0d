"""ClassificationLoss: cross-entropy, plus 0.3 x each auxiliary head's loss when a model leaves aux logits."""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnkit.train.task import ClassificationLoss, aux_logits


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean of -log softmax at the label, written out."""
    return sum(math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in zip(logits.tolist(), y.tolist())) / len(y)


def test_loss_adds_three_tenths_of_each_aux_loss() -> None:
    torch.manual_seed(0)
    main, a1, a2 = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 5)
    y = torch.tensor([0, 3, 4, 1])
    task = ClassificationLoss()
    expected = _cross_entropy(main, y) + 0.3 * (_cross_entropy(a1, y) + _cross_entropy(a2, y))
    assert math.isclose(task.loss(main, y, aux=(a1, a2)).item(), expected, rel_tol=1e-5)
    assert math.isclose(task.loss(main, y).item(), _cross_entropy(main, y), rel_tol=1e-5)


def test_aux_logits_are_found_inside_the_training_wrapper() -> None:
    class WithAux(nn.Linear):
        aux_logits = None

    network = WithAux(3, 2)
    model = nn.Sequential(nn.Identity(), network)
    assert aux_logits(model) is None and aux_logits(nn.Linear(3, 2)) is None
    a = torch.zeros(1, 2)
    network.aux_logits = (a, a)
    found = aux_logits(model)
    assert found is not None and len(found) == 2 and found[0] is a
