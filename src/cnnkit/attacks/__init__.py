"""Adversarial examples: attacks configured once and called on a batch of pixels in [0, 1].

``FGSM(eps=8/255)(model, x, y)`` returns an ``AttackResult``; see base.py for the contract.
"""

from cnnkit.attacks.base import Attack, AttackResult
from cnnkit.attacks.carlini_wagner import CarliniWagnerL2
from cnnkit.attacks.deepfool import DeepFool
from cnnkit.attacks.fgsm import FGSM
from cnnkit.attacks.lbfgs import LBFGS
from cnnkit.attacks.pgd import PGD
from cnnkit.attacks.universal import Perturbation, UniversalPerturbation, fooling_rate

__all__ = [
    "FGSM", "LBFGS", "PGD", "Attack", "AttackResult", "CarliniWagnerL2", "DeepFool", "Perturbation",
    "UniversalPerturbation", "fooling_rate",
]
