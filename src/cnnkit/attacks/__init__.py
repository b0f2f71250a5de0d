"""Adversarial examples: attacks configured once and called on a batch of pixels in [0, 1].

``FGSM(eps=8/255)(model, x, y)`` returns an ``AttackResult``; see base.py for the contract.
evaluate.py draws robustness curves; physical.py holds the physical-world transformations and
the destruction rate of Kurakin et al. (2017); universal.py fits one perturbation for a dataset.
"""

from cnnkit.attacks.base import Attack, AttackResult
from cnnkit.attacks.bim import BIM
from cnnkit.attacks.carlini_wagner import CarliniWagnerL2
from cnnkit.attacks.deepfool import DeepFool
from cnnkit.attacks.evaluate import RobustnessCurve, predict, robustness_curve, run_attack
from cnnkit.attacks.fgsm import FGSM
from cnnkit.attacks.lbfgs import LBFGS
from cnnkit.attacks.least_likely import LeastLikely, least_likely_class
from cnnkit.attacks.pgd import PGD
from cnnkit.attacks.physical import DEFAULT_TRANSFORMS, DestructionTable, destruction_rate, destruction_table
from cnnkit.attacks.universal import Perturbation, UniversalPerturbation, fooling_rate

__all__ = [
    "BIM", "DEFAULT_TRANSFORMS", "FGSM", "LBFGS", "PGD", "Attack", "AttackResult", "CarliniWagnerL2", "DeepFool",
    "DestructionTable", "LeastLikely", "Perturbation", "RobustnessCurve", "UniversalPerturbation",
    "destruction_rate", "destruction_table", "fooling_rate", "least_likely_class", "predict",
    "robustness_curve", "run_attack",
]
