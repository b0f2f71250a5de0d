"""The attacks by name: what ``cnnkit attack --method``, the benchmarks and the contract test
share, so a new attack is added in one place.

Two kinds (DESIGN.md): eps-ball attacks are configured with a radius and re-configured at each
eps of a robustness curve; minimum-norm attacks (DeepFool, L-BFGS, C&W) have no eps, their
curve comes from the per-image norms of one run. The universal perturbation is fitted on a
dataset first (``UniversalPerturbation``), so it is listed apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnkit.attacks.base import Attack
from cnnkit.attacks.bim import BIM
from cnnkit.attacks.carlini_wagner import CarliniWagnerL2
from cnnkit.attacks.deepfool import DeepFool
from cnnkit.attacks.fgsm import FGSM
from cnnkit.attacks.lbfgs import LBFGS
from cnnkit.attacks.least_likely import LeastLikely
from cnnkit.attacks.pgd import PGD
from cnnkit.errors import ConfigError

__all__ = ["CATALOG", "UNIVERSAL", "AttackEntry", "build_attack", "method_names", "resolve_methods"]


@dataclass(frozen=True)
class AttackEntry:
    """One named method: its class, display label, norm and whether it takes an eps."""

    name: str                 # what --method takes
    label: str                # what tables and figures show
    cls: type[Attack]
    norm: str                 # 'inf' or '2'
    has_eps: bool             # an eps-ball attack; else minimum-norm
    paper: str

    def build(self, *, eps: float | None = None, steps: int | None = None, seed: int = 0) -> Attack:
        """The attack configured: ``eps`` for eps-ball methods, ``steps`` where it iterates (None: its default)."""
        if not self.has_eps:
            return self.cls(steps=steps) if steps is not None else self.cls()
        if eps is None:
            raise ConfigError(f"attack {self.name!r} needs eps, the radius of its {self.norm}-ball")
        if self.cls is FGSM:
            return FGSM(eps=eps)
        if self.cls is PGD:
            return PGD(norm=self.norm, eps=eps, steps=steps or 10, seed=seed)
        return self.cls(eps=eps, steps=steps)


CATALOG: dict[str, AttackEntry] = {e.name: e for e in (
    AttackEntry("fgsm", "FGSM", FGSM, "inf", True, "Goodfellow et al., 2015"),
    AttackEntry("bim", "BIM", BIM, "inf", True, "Kurakin et al., 2017"),
    AttackEntry("ll", "LL", LeastLikely, "inf", True, "Kurakin et al., 2017"),
    AttackEntry("pgd", "PGD", PGD, "inf", True, "Madry et al., 2018"),
    AttackEntry("pgd-l2", "PGD-L2", PGD, "2", True, "Madry et al., 2018"),
    AttackEntry("deepfool", "DeepFool", DeepFool, "2", False, "Moosavi-Dezfooli et al., 2016"),
    AttackEntry("lbfgs", "L-BFGS", LBFGS, "2", False, "Szegedy et al., 2014"),
    AttackEntry("cw", "C&W-L2", CarliniWagnerL2, "2", False, "Carlini & Wagner, 2017"),
)}
UNIVERSAL = "universal"   # Moosavi-Dezfooli et al., 2017: fitted on a dataset, then applied as an Attack


def method_names() -> tuple[str, ...]:
    """Every name ``resolve_methods`` accepts, the catalog's and 'universal'."""
    return (*CATALOG, UNIVERSAL)


def resolve_methods(names: Sequence[str]) -> list[str]:
    """Names checked against the catalog, lower-cased, duplicates dropped, order kept."""
    wanted = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in wanted if n not in method_names()]
    if not wanted or unknown:
        raise ConfigError(f"unknown method {', '.join(unknown) or repr(','.join(names))}; "
                          f"valid: {', '.join(method_names())}")
    return list(dict.fromkeys(wanted))


def build_attack(name: str, *, eps: float | None = None, steps: int | None = None, seed: int = 0) -> Attack:
    """The catalogued attack ``name`` configured (``FGSM(eps=0.1)`` for ``build_attack('fgsm', eps=0.1)``)."""
    return CATALOG[resolve_methods([name])[0]].build(eps=eps, steps=steps, seed=seed)
