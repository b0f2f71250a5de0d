"""Robustness curves: eps attacks against direct calls, a minimum-norm attack against a per-image count."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from cnnkit.attacks import FGSM, PGD, Attack, predict, robustness_curve, run_attack
from cnnkit.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class _FakeMinNorm(Attack):
    """A stand-in minimum-norm attack: no eps; moves image k along the FGSM direction by size_k = 0.04 (k mod 6)."""

    norm = "inf"

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        from cnnkit.attacks.base import input_gradient

        grad, _ = input_gradient(model, x, y, target)
        size = 0.04 * (torch.arange(len(x)) % 6).float().view(-1, 1, 1, 1)
        return x + size * grad.sign()


def test_run_attack_in_batches_equals_one_call(digits_batch):
    model, x, y = digits_batch
    whole, parts = FGSM(eps=0.1)(model, x, y), run_attack(FGSM(eps=0.1), model, x, y, batch_size=7)
    for name in ("x_adv", "success", "l2", "linf", "queries", "clean_pred", "adv_pred", "y"):
        assert torch.equal(getattr(whole, name), getattr(parts, name)), name
    target = (y + 3) % 10
    aimed = run_attack(FGSM(eps=0.1), model, x, y, target=target, batch_size=10)
    assert torch.equal(aimed.target, target)
    assert torch.equal(aimed.x_adv, FGSM(eps=0.1)(model, x, y, target=target).x_adv)


def test_curve_of_eps_attacks_equals_direct_calls(digits_batch):
    model, x, y = digits_batch
    eps_values = [0.0, 0.05, 0.15]
    attacks = {"FGSM": FGSM(), "PGD": PGD(eps=0.03, steps=3)}
    # One batch: PGD draws its random start per call, so the split into batches changes the draw.
    curve = robustness_curve(model, x, y, attacks, eps_values, batch_size=len(x))
    clean = float((predict(model, x) == y).float().mean())
    assert curve.clean_accuracy == pytest.approx(clean)
    assert curve.eps == tuple(eps_values) and curve.count == len(x) and curve.norms == {"FGSM": "inf", "PGD": "inf"}
    for eps, fgsm, pgd in zip(eps_values, curve.accuracy["FGSM"], curve.accuracy["PGD"]):
        assert fgsm == pytest.approx(FGSM(eps=eps)(model, x, y).adv_accuracy)
        assert pgd == pytest.approx(PGD(eps=eps, steps=3)(model, x, y).adv_accuracy)
    assert curve.accuracy["FGSM"][0] == pytest.approx(clean)
    assert curve.accuracy["FGSM"][-1] < curve.accuracy["FGSM"][0]


def test_curve_of_a_min_norm_attack_from_one_run(digits_batch):
    model, x, y = digits_batch
    eps_values = [0.0, 0.03, 0.05, 0.1, 0.3]
    curve = robustness_curve(model, x, y, {"fake": _FakeMinNorm()}, eps_values, batch_size=16)
    # Per image, by hand: still correct at eps iff correct clean and not (fooled with a perturbation <= eps).
    x_adv = torch.cat([_FakeMinNorm()(model, x[i:i + 16], y[i:i + 16]).x_adv for i in range(0, len(x), 16)])
    per_image = []  # (correct clean, fooled, L-inf size) of image k, each from its own forward
    for k in range(len(x)):
        with torch.no_grad():
            correct = int(model(x[k:k + 1]).argmax()) == int(y[k])
            fooled = int(model(x_adv[k:k + 1]).argmax()) != int(y[k])
        per_image.append((correct, fooled, float((x_adv[k] - x[k]).abs().max())))
    for eps, accuracy in zip(eps_values, curve.accuracy["fake"]):
        still = sum(correct and not (fooled and size <= eps) for correct, fooled, size in per_image)
        assert accuracy == pytest.approx(still / len(x))
    assert curve.accuracy["fake"][0] == pytest.approx(curve.clean_accuracy)
    assert list(curve.accuracy["fake"]) == sorted(curve.accuracy["fake"], reverse=True)
    assert curve.accuracy["fake"][-1] < curve.clean_accuracy


def test_targeted_curve_reports_target_hits(digits_batch):
    model, x, y = digits_batch
    target = (y + 1) % 10
    curve = robustness_curve(model, x, y, {"PGD": PGD(steps=4)}, [0.05, 0.2], target=target)
    for eps, hit in zip([0.05, 0.2], curve.success["PGD"]):
        result = PGD(eps=eps, steps=4)(model, x, y, target=target)
        assert hit == pytest.approx(float((result.adv_pred == target).float().mean()))
    assert curve.to_dict()["success"]["PGD"] == list(curve.success["PGD"])


@pytest.mark.parametrize("attacks,eps,match", [({}, [0.1], "at least one attack"), ({"F": FGSM()}, [], "eps"),
                                               ({"F": FGSM()}, [-0.1], "eps"), ({"F": FGSM()}, [1.5], "eps")])
def test_curve_refuses_bad_arguments(digits_batch, attacks, eps, match):
    model, x, y = digits_batch
    with pytest.raises(ConfigError, match=match):
        robustness_curve(model, x[:4], y[:4], attacks, eps)


def test_progress_counts_every_attacked_image(digits_batch):
    from cnnkit.attacks import FGSM, DeepFool, robustness_curve

    model, x, y = digits_batch
    seen = []
    robustness_curve(model, x, y, {"fgsm": FGSM(eps=0.1), "deepfool": DeepFool(steps=3)}, [0.05, 0.1],
                     batch_size=32, progress=lambda done, total: seen.append((done, total)))
    total = 3 * len(x)  # two eps runs of FGSM, one DeepFool run
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
