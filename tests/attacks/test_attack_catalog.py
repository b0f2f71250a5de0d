"""The attack catalog: the one table of names the CLI, the benchmarks and the contract test share."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cnnkit.attacks import FGSM, PGD, DeepFool
from cnnkit.attacks.catalog import CATALOG, build_attack, method_names, resolve_methods
from cnnkit.attacks.targets import choose_targets
from cnnkit.errors import ConfigError


def test_the_cli_spells_the_catalog_names():
    from cnnkit.cli import attack

    assert attack.METHODS == method_names()
    assert attack.EPS_METHODS == tuple(name for name, entry in CATALOG.items() if entry.has_eps)


def test_the_contract_test_covers_every_catalogued_class():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("contract", Path(__file__).with_name("test_contract.py"))
    contract = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(contract)
    ATTACKS = contract.ATTACKS
    assert {entry.cls for entry in CATALOG.values()} <= {type(a) for a in ATTACKS}


def test_build_configures_each_kind():
    assert build_attack("fgsm", eps=0.1) == FGSM(eps=0.1)
    assert build_attack("PGD-L2", eps=0.5, steps=3, seed=7) == PGD(norm="2", eps=0.5, steps=3, seed=7)
    assert build_attack("deepfool", eps=0.5) == DeepFool()  # minimum-norm: eps has no meaning
    assert build_attack("deepfool", steps=5) == DeepFool(steps=5)
    for entry in CATALOG.values():
        attack = entry.build(eps=0.1, steps=2)
        assert (getattr(attack, "norm", None) or "2") == entry.norm  # minimum-norm attacks without one measure L2
        assert hasattr(attack, "eps") == entry.has_eps
        assert {f.name for f in dataclasses.fields(attack)} >= ({"eps"} if entry.has_eps else set())


@pytest.mark.parametrize(("names", "message"), [(["fgsm", "foo"], "unknown method foo"), ([""], "unknown method")])
def test_unknown_names_are_refused_with_the_valid_ones(names, message):
    with pytest.raises(ConfigError, match=message) as err:
        resolve_methods(names)
    assert "fgsm, bim" in str(err.value)


def test_names_are_case_blind_and_deduplicated():
    assert resolve_methods(["FGSM", " pgd", "fgsm"]) == ["fgsm", "pgd"]


def test_targets(digits_batch):
    model, x, y = digits_batch
    classes = [str(i) for i in range(10)]
    random = choose_targets("random", model, x, y, classes, seed=3)
    assert (random != y).all() and random.min() >= 0 and random.max() < 10
    assert torch.equal(random, choose_targets("random", model, x, y, classes, seed=3))
    least = choose_targets("least-likely", model, x, y, classes)
    with torch.no_grad():
        assert torch.equal(least, model(x).argmin(1))
    assert torch.equal(choose_targets("3", model, x, y, classes), torch.full_like(y, 3))
    with pytest.raises(ConfigError, match="out of range"):
        choose_targets("10", model, x, y, classes)
    with pytest.raises(ConfigError, match="no class of this model"):
        choose_targets("banana", model, x, y, classes)
