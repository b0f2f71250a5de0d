"""`--reference-ops`: a model's convolutions and pools swapped for cnnkit's, same numbers, trains."""

from __future__ import annotations

import json

import pytest

import torch
from torch import nn

from cnnkit.layers.reference import use_reference_ops
from cnnkit.models import create_model
from cnnkit.train import TrainConfig, fit


def test_swapped_lenet_keeps_its_state_dict_and_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    native = create_model("lenet5").double()
    reference = use_reference_ops(create_model("lenet5").double())
    reference.load_state_dict(native.state_dict())
    assert list(reference.state_dict()) == list(native.state_dict())
    swapped = [type(m).__module__ for m in reference.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
    assert swapped and all(name.startswith("cnnkit.layers") for name in swapped)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([0, 3, 5, 9])
    losses = [nn.functional.cross_entropy(m(x), y) for m in (native, reference)]
    assert torch.allclose(losses[0], losses[1], atol=1e-12)
    for loss in losses:
        loss.backward()
    for (name, a), b in zip(native.named_parameters(), reference.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-10), name


def test_lenet5_trains_on_the_reference_ops_as_on_the_native_ones(tmp_path) -> None:
    # Like with like: in float32 the two differ only in rounding (under bf16 autocast by ~1e-3 per
    # step, so amp is off on every CPU). Training amplifies rounding: on an Intel Xeon (AMX) the
    # curves agreed to 4e-7 after two epochs, then parted by 1.7e-3 after three and 2% after four,
    # as the loss fell fastest. So the first two epochs must agree to a few digits, and the later
    # ones only as two runs of one recipe do.
    common = dict(model="lenet5", data="digits", epochs=4, batch_size=32, lr=0.1, threads=2, out=str(tmp_path),
                  amp="off")
    runs = [fit(TrainConfig(**common, name=name, reference_ops=swap), progress=False).run_dir
            for name, swap in (("native", False), ("reference", True))]
    native, reference = ([json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
                         for run in runs)
    assert len(native) == len(reference) == 4
    for a, b in zip(native[:2], reference[:2]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4), a["epoch"]
        assert abs(b["test_acc"] - a["test_acc"]) <= 1 / 359, a["epoch"]   # at most 1 of 359 test digits
    for a, b in zip(native[2:], reference[2:]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.1), a["epoch"]
        assert abs(b["test_acc"] - a["test_acc"]) <= 6 / 359, a["epoch"]
    assert native[-1]["train_loss"] < 0.5 * native[0]["train_loss"] and reference[-1]["test_acc"] > 0.8
