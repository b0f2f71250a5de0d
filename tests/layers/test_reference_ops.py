"""`--reference-ops`: a model's convolutions and pools swapped for cnnkit's, same numbers, trains."""

from __future__ import annotations

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


def test_lenet5_trains_on_the_reference_ops(tmp_path) -> None:
    common = dict(model="lenet5", data="digits", epochs=8, batch_size=32, lr=0.1, threads=2, out=str(tmp_path))
    native = fit(TrainConfig(**common, name="native"), progress=False)
    reference = fit(TrainConfig(**common, name="reference", reference_ops=True), progress=False)
    assert reference.test_acc > 0.9 and abs(reference.test_acc - native.test_acc) < 0.03
