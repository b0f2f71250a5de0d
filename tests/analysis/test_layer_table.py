"""summary(): the published multiply-adds of ResNet, per-layer rows that add up, shape errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit.analysis import summary
from cnnkit.errors import ConfigError
from cnnkit.models import create_model


def _meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kw)


@pytest.mark.parametrize(("name", "gmacs", "params"), [
    ("resnet18", 1.81, 11_689_512), ("resnet50", 4.09, 25_557_032),
    ("alexnet", 0.71, 61_100_840), ("vgg16", 15.47, 138_357_544),
])
def test_the_zoo_matches_the_published_gmacs(name: str, gmacs: float, params: int) -> None:
    result = summary(_meta(name), 224)
    assert round(result.gmacs, 2) == gmacs
    assert result.parameters == params
    assert sum(row.macs for row in result.rows) == result.macs   # all the work is in leaf modules
    assert sum(row.parameters for row in result.rows) == params


def test_lenet5_rows_by_hand() -> None:
    result = summary(create_model("lenet5"), 28)
    conv1, conv2 = result.rows[0], result.rows[3]
    assert conv1.output_shape == (1, 6, 28, 28) and conv1.macs == 6 * 28 * 28 * 1 * 5 * 5
    assert conv2.output_shape == (1, 16, 10, 10) and conv2.macs == 16 * 10 * 10 * 6 * 5 * 5
    assert result.rows[-1].macs == 84 * 10 and result.parameters == 61_706
    assert result.macs == 117_600 + 240_000 + 400 * 120 + 120 * 84 + 84 * 10
    assert conv2.field is not None and conv2.field.r == (14, 14)


def test_macs_are_per_sample_and_groups_divide_them() -> None:
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    result = summary(model, (4, 6, 6), batch=3)
    assert result.rows[0].output_shape == (3, 8, 6, 6)
    assert result.rows[0].macs == 8 * 6 * 6 * 1 * 3 * 3 and result.rows[2].macs == 288 * 5


def test_matmul_inside_a_forward_is_counted_in_the_total() -> None:
    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> tokens (N, HW, C)
            t = self.proj(x.flatten(2).transpose(1, 2))
            return t @ t.transpose(1, 2)

    result = summary(Attention(), (4, 3, 3))
    assert result.macs == 9 * 4 * 4 + 9 * 9 * 4


def test_a_wrong_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot run on a 3x32x32 input"):
        summary(create_model("lenet5"), (3, 32, 32))
    with pytest.raises(ConfigError, match="input size"):
        summary(create_model("lenet5"), (1, 2, 3, 4))


def test_googlenet_matches_the_published_gmacs_without_its_aux_heads() -> None:
    """Evaluation runs no auxiliary classifier, so 1.50 GMACs (Szegedy et al., 2015: 1.5 billion)."""
    assert round(summary(_meta("googlenet"), 224).gmacs, 2) == 1.50


def test_googlenet_counts_parameters_with_and_without_its_aux_heads() -> None:
    """13,004,888 with aux1/aux2, which only training runs; the published 6,624,904 without them."""
    result = summary(_meta("googlenet"), 224)
    without = sum(p.numel() for p in _meta("googlenet", aux=False).parameters())  # the independent reference
    assert result.parameters == sum(p.numel() for p in _meta("googlenet").parameters()) == 13_004_888
    assert result.eval_parameters == without == 6_624_904
    assert result.not_run == ("aux1", "aux2")
    assert sum(row.parameters for row in result.rows) == without  # the rows are the modules evaluation runs


@pytest.mark.parametrize("name", ["resnet18", "coatnet_0", "lenet5"])
def test_networks_that_run_every_module_count_one_figure(name: str) -> None:
    size = {"lenet5": 28, "coatnet_0": 224}.get(name, 64)  # coatnet is built for one input_size: its default
    result = summary(_meta(name, input_size=size), size)
    assert result.eval_parameters == result.parameters and result.not_run == ()


def test_the_summary_line_states_both_counts(capsys: pytest.CaptureFixture[str]) -> None:
    from cnnkit.cli.main import main

    main(["summary", "googlenet"])  # the command's defaults: 3x224x224, 1000 classes
    last = " ".join(capsys.readouterr().out.split()).rsplit("googlenet on ", 1)[1]
    assert last.startswith("3x224x224: 13,004,888 parameters (6,624,904 without aux1, aux2: not run in evaluation")
    main(["summary", "resnet18"])
    assert "11,689,512 parameters, 1,814,073,344 multiply-adds" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "size"), [("lenet5", 28), ("alexnet", 64), ("resnet18", 32)])
def test_weight_sharing_counts_equal_the_layers_they_stand_for(name: str, size: int) -> None:
    """Each convolution's 'unshared' count is the weight of a real LocallyConnected2d between the same
    shapes and its 'dense' count that of an nn.Linear; the first is also the layer's MACs (each
    unshared weight is used once)."""
    from cnnkit.layers import LocallyConnected2d

    model = create_model(name, input_size=size)
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    seen: dict[str, tuple[torch.Size, torch.Size]] = {}
    def record(name: str):  # a hook that returns None, so the output is left as it is
        return lambda module, inputs, output: seen.__setitem__(name, (inputs[0].shape, output.shape))

    handles = [m.register_forward_hook(record(n)) for n, m in convs.items()]
    model.eval()(torch.zeros(1, model_in_chans(model), size, size))
    for handle in handles:
        handle.remove()
    result = summary(model, size)
    rows = {row.name: row for row in result.rows if row.sharing is not None}
    assert set(rows) == set(convs)
    for layer_name, conv in list(convs.items())[:4]:  # building the unshared layers costs memory; four suffice
        x_shape, y_shape = seen[layer_name]
        if conv.groups != 1:
            continue
        local = LocallyConnected2d(conv.in_channels, conv.out_channels, tuple(x_shape[2:]), conv.kernel_size,
                                   conv.stride, conv.padding, bias=False)
        assert tuple(local.output_size) == tuple(y_shape[2:])
        assert rows[layer_name].sharing.local == local.weight.numel() == rows[layer_name].macs
        dense = nn.Linear(x_shape[1:].numel(), y_shape[1:].numel(), bias=False, device="meta")
        assert rows[layer_name].sharing.dense == dense.weight.numel()
        assert rows[layer_name].sharing.shared == conv.weight.numel()
    assert result.sharing.shared == sum(m.weight.numel() for m in convs.values())


def model_in_chans(model: nn.Module) -> int:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels
