"""FGSM against plain autograd (Goodfellow et al., 2015): x + eps sign(grad), clipped to [0, 1]."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.attacks import FGSM
from cnnkit.errors import ConfigError


def _reference(model, x, label, eps, *, toward: bool):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), label, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    step = -eps * grad.sign() if toward else eps * grad.sign()
    return (x.detach() + step).clamp(0, 1)


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
def test_fgsm_matches_autograd(digits_batch, eps):
    model, x, y = digits_batch
    result = FGSM(eps=eps)(model, x, y)
    torch.testing.assert_close(result.x_adv, _reference(model, x, y, eps, toward=False), atol=1e-6, rtol=0)
    assert torch.equal(result.queries, torch.full((len(x),), 1, dtype=torch.long))


def test_targeted_fgsm_steps_toward_the_target(digits_batch):
    model, x, y = digits_batch
    target = (y + 1) % 10
    result = FGSM(eps=0.1)(model, x, y, target=target)
    torch.testing.assert_close(result.x_adv, _reference(model, x, target, 0.1, toward=True), atol=1e-6, rtol=0)
    assert torch.equal(result.success, result.adv_pred == target)
    assert torch.equal(result.target, target)


@pytest.mark.parametrize("eps", [-0.01, 1.5, float("nan"), float("inf")])
def test_fgsm_refuses_bad_eps(eps):
    with pytest.raises(ConfigError, match="eps"):
        FGSM(eps=eps)


def test_fgsm_runs_the_model_twice_and_reports_the_clean_prediction(digits_batch):
    """One gradient pass on x (whose logits give the clean prediction) and one re-prediction."""
    model, x, y = digits_batch
    calls = []
    handle = model.register_forward_pre_hook(lambda _m, inputs: calls.append(inputs[0].shape[0]))
    try:
        result = FGSM(eps=0.1)(model, x, y)
    finally:
        handle.remove()
    assert calls == [len(x), len(x)]
    with torch.no_grad():
        torch.testing.assert_close(result.clean_pred, model(x).argmax(1), rtol=0, atol=0)
