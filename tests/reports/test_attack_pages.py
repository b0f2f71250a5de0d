"""The attack pages' words and numbers: eps as the papers write it, titles in words, JSON without float noise."""

from __future__ import annotations

import math

import torch


def test_eps_is_shown_as_typed_in_papers_units():
    from cnnkit.reports.attacks import eps_text

    assert [eps_text(e) for e in (0.1, 16 / 255, 8 / 255, 0.2, 0.123456)] == ["0.1", "16/255", "8/255", "0.2", "0.1235"]


def test_titles_and_json_numbers_are_readable():
    from cnnkit.attacks import BIM, FGSM, PGD, DeepFool
    from cnnkit.reports.attacks import attack_title
    from cnnkit.reports.pages import rounded as _rounded

    assert attack_title("FGSM", FGSM(eps=8 / 255)) == "FGSM, L∞ ε = 8/255 (0.0314)"
    assert attack_title("PGD-L2", PGD(norm="2", eps=0.5, steps=10)) == "PGD-L2, L2 ε = 0.5, 10 steps"
    assert attack_title("BIM", BIM(eps=0.1)) == "BIM, L∞ ε = 0.1"
    assert attack_title("DeepFool", DeepFool()).startswith("DeepFool, minimum L2 norm")
    accuracy = float(torch.tensor(8 / 25))  # a float32 mean: 0.3199999928474426
    rounded = _rounded({"a": [accuracy, 8 / 255, 0.05, 1e-7], "n": 3, "flag": True, "none": None, "t": (0.5,)})
    assert rounded == {"a": [0.32, 0.03137255, 0.05, 1e-7], "n": 3, "flag": True, "none": None, "t": [0.5]}
    assert torch.tensor(rounded["a"][0]).item() == accuracy  # nothing the float32 value held is lost
    assert math.isnan(_rounded(float("nan")))
