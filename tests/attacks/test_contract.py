"""The contract every configured attack keeps (STYLE.md rule 8): one row per attack in ATTACKS,
its repr as the test id. Add a row to cover a new attack."""

from __future__ import annotations

import copy

import pytest
import torch

from cnnkit.attacks import BIM, FGSM, LBFGS, PGD, CarliniWagnerL2, DeepFool, LeastLikely, Perturbation
from cnnkit.errors import ConfigError

ATTACKS = [
    FGSM(eps=0.1),
    PGD(norm="inf", eps=0.1, steps=5),
    PGD(norm="2", eps=1.0, steps=5),
    BIM(eps=0.1, alpha=0.025, steps=5),
    LeastLikely(eps=0.1, alpha=0.025, steps=5),
    DeepFool(steps=20),
    DeepFool(norm="inf", steps=20),
    LBFGS(steps=5, search_steps=2),
    CarliniWagnerL2(c=10.0, steps=30, lr=0.05, binary_search_steps=1),
    Perturbation(delta=torch.linspace(-0.6, 0.6, 64).reshape(1, 8, 8)),
]


def _ids(attack) -> str:
    return repr(attack)


@pytest.fixture(scope="module")
def train_mode_model(digits_batch):
    """A copy of the digits model in TRAIN mode (BatchNorm layers would update their stats), one layer frozen."""
    model, _, _ = digits_batch
    model = copy.deepcopy(model).train()
    next(model.parameters()).requires_grad_(False)  # a mixed set of flags to restore
    return model


@pytest.mark.parametrize("attack", ATTACKS, ids=_ids)
def test_attack_contract(attack, digits_batch, train_mode_model):
    _, x, y = digits_batch
    model = train_mode_model
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    x_before = x.clone()

    result = attack(model, x, y)

    # The caller's model is left as it was found: modes, flags, BatchNorm statistics.
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    for key, value in model.state_dict().items():
        if key in stats:
            assert torch.equal(value, stats[key]), key
    assert torch.equal(x, x_before)

    x_adv = result.x_adv
    assert x_adv.shape == x.shape
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    eps, norm = getattr(attack, "eps", None), getattr(attack, "norm", None)
    if eps is not None:
        delta = (x_adv - x).flatten(1)
        size = delta.abs().amax(1) if norm == "inf" else delta.norm(dim=1)
        assert float(size.max()) <= eps + 1e-6
        # The result's own norms are the real ones.
        torch.testing.assert_close(result.linf, delta.abs().amax(1))
        torch.testing.assert_close(result.l2, delta.norm(dim=1))

    model.eval()
    try:
        with torch.no_grad():
            clean_pred, adv_pred = model(x).argmax(1), model(x_adv).argmax(1)
    finally:
        model.train()
    assert torch.equal(result.clean_pred, clean_pred)
    assert torch.equal(result.adv_pred, adv_pred)
    assert torch.equal(result.success, adv_pred != y)
    assert result.adv_accuracy < result.clean_accuracy - 0.2
    assert bool((result.queries > 0).all()) or isinstance(attack, Perturbation)  # a fixed delta asks nothing

    again = attack(model, x, y)
    assert torch.equal(again.x_adv, x_adv)
    assert torch.equal(again.success, result.success)


@pytest.mark.parametrize("attack", ATTACKS, ids=_ids)
def test_attack_refuses_bad_batches(attack, digits_batch):
    model, x, y = digits_batch
    x, y = x[:4], y[:4]
    with pytest.raises(ConfigError, match="outside"):
        attack(model, x * 2 - 0.5, y)
    with pytest.raises(ConfigError, match="one label per image"):
        attack(model, x, y[:3])
    with pytest.raises(ConfigError, match="one label per image"):
        attack(model, x, y.view(2, 2))
    with pytest.raises(ConfigError, match="classes 0..9"):
        attack(model, x, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ConfigError, match="integer"):
        attack(model, x, y.float())
    if attack.can_target:
        with pytest.raises(ConfigError, match="classes 0..9"):
            attack(model, x, y, target=torch.tensor([0, 1, -1, 3]))
    else:
        with pytest.raises(ConfigError, match="untargeted only"):
            attack(model, x, y, target=torch.zeros(4, dtype=torch.long))
