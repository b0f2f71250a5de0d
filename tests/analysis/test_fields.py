"""receptive_field(): Araujo et al.'s recurrence, checked by hand and against input gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit.analysis import receptive_field
from cnnkit.models import create_model


def test_lenet5_by_hand() -> None:
    rf = receptive_field(create_model("lenet5"), 28)
    table = {row.name: (row.field.r[0], row.field.jump[0], row.field.start[0]) for row in rf.rows}
    assert table["features.0"] == (5, 1, 0)
    assert table["features.2"] == (6, 2, 0.5)
    assert table["features.3"] == (14, 2, 4.5)
    assert table["features.5"] == (16, 4, 5.5)
    assert rf.row("classifier").field.is_global and rf.row("classifier").r == 32


def test_resnet18_matches_the_published_435() -> None:
    with torch.device("meta"):
        model = create_model("resnet18")
    rf = receptive_field(model, 224)
    last = rf.row("layer4")
    assert last.r == 435 and last.field.jump == (32, 32)
    assert last.field.r_min == (11, 11)  # shortcuts only: stem conv and max-pool
    assert rf.row("layer1.0").field.r == (27, 27) and rf.row("layer1.0").field.r_min == (11, 11)
    assert rf.covering(100).name == "layer3.0.conv1" and rf.covering(1000) is None


def _linear_positive(model: nn.Module) -> nn.Module:
    """The same geometry with every weight positive, ReLU as identity and max- as average pooling,
    so that the gradient is positive exactly on the receptive field."""
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU):
            setattr(model, name, nn.Identity())
        elif isinstance(child, nn.MaxPool2d):
            setattr(model, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
        else:
            _linear_positive(child)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.abs() + 0.01)
    return model.eval()


@pytest.mark.parametrize(("name", "size", "layers"), [
    ("lenet5", 28, ["features.0", "features.2", "features.3", "features.5"]),
    ("resnet18", 96, ["conv1", "maxpool", "layer1.0.conv1", "layer1", "layer2.0.conv1", "layer2.0.downsample"]),
])
def test_the_input_gradient_of_a_centre_unit_covers_exactly_the_field(name: str, size: int, layers: list[str]) -> None:
    torch.manual_seed(0)
    model = _linear_positive(create_model(name, input_size=size))
    rf = receptive_field(model, size)
    modules = dict(model.named_modules())
    for layer in layers:
        row = rf.row(layer)
        module = modules[row.name.split("#")[0]]
        outputs = []
        handle = module.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        x = torch.zeros(1, *rf.input_shape, requires_grad=True)
        model(x)
        handle.remove()
        out = outputs[-1]  # the last call is the row's call
        h, w = out.shape[-2] // 2, out.shape[-1] // 2
        out[0, :, h, w].sum().backward()
        rows, cols = torch.nonzero(x.grad[0].sum(0) > 0, as_tuple=True)
        for axis, (index, hits) in enumerate([(h, rows), (w, cols)]):
            centre = row.field.start[axis] + index * row.field.jump[axis]
            half = (row.field.r[axis] - 1) / 2
            assert centre - half >= 0 and centre + half <= size - 1, f"{layer}: the field leaves the image"
            assert (hits.min().item(), hits.max().item()) == (centre - half, centre + half), layer
