"""Adversarial examples: attacks configured once and called on a batch of pixels in [0, 1].

``FGSM(eps=8/255)(model, x, y)`` returns an ``AttackResult``; see base.py for the contract.
"""

from cnnkit.attacks.base import Attack, AttackResult
from cnnkit.attacks.fgsm import FGSM
from cnnkit.attacks.pgd import PGD

__all__ = ["FGSM", "PGD", "Attack", "AttackResult"]
