"""AlexNet and VGG: published parameter counts, torchvision's key layout, the small-input rule, errors."""

from __future__ import annotations

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.models import create_model


def _on_meta(name: str, **kwargs: object) -> torch.nn.Module:
    with torch.device("meta"):  # shapes only: VGG-19 costs no time or memory
        return create_model(name, **kwargs)


def test_vgg16_count_by_hand() -> None:
    # 13 3x3 convolutions (weights + biases), then fc 512*7*7 -> 4096 -> 4096 -> 1000.
    widths = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    convs = sum(a * b * 9 + b for a, b in zip(widths, widths[1:]))
    fcs = (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert convs + fcs == 138_357_544  # torchvision's published count; test_registry checks every model


def test_state_dicts_use_torchvision_key_layout() -> None:
    # Keys and shapes of torchvision's alexnet()/vgg16()/vgg16_bn(), written out by hand.
    expected = {
        "alexnet": (16, {"features.0.weight": (64, 3, 11, 11), "features.3.weight": (192, 64, 5, 5),
                         "features.10.bias": (256,), "classifier.1.weight": (4096, 9216),
                         "classifier.4.weight": (4096, 4096), "classifier.6.bias": (1000,)}),
        "vgg16": (32, {"features.0.weight": (64, 3, 3, 3), "features.28.weight": (512, 512, 3, 3),
                       "classifier.0.weight": (4096, 25088), "classifier.3.bias": (4096,),
                       "classifier.6.weight": (1000, 4096)}),
        "vgg16_bn": (97, {"features.1.running_var": (64,), "features.40.weight": (512, 512, 3, 3),
                          "features.41.num_batches_tracked": (), "classifier.0.weight": (4096, 25088)}),
    }
    for name, (length, shapes) in expected.items():
        state = _on_meta(name).state_dict()
        assert len(state) == length
        assert {key: tuple(state[key].shape) for key in shapes} == shapes


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "vgg11_bn"])
@pytest.mark.parametrize(("in_chans", "size"), [(1, 28), (3, 32)])
def test_small_inputs_forward(name: str, in_chans: int, size: int) -> None:
    model = create_model(name, num_classes=10, in_chans=in_chans, input_size=size).eval()
    with torch.no_grad():
        assert model(torch.rand(2, in_chans, size, size)).shape == (2, 10)


@pytest.mark.parametrize("name", ["alexnet", "vgg11"])
def test_imagenet_size_forward(name: str) -> None:
    model = create_model(name, num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 224, 224)).shape == (1, 5)


@pytest.mark.parametrize(
    ("size", "identity_pools", "side"),
    [(8, [23, 30], 1), (28, [30], 1), (32, [], 1), (63, [], 1)],
)
def test_vgg_small_form_stops_pooling_at_one_pixel_and_reads_the_whole_map(
    size: int, identity_pools: list[int], side: int
) -> None:
    model = _on_meta("vgg16", input_size=size)
    pools = [i for i, m in enumerate(model.features) if isinstance(m, (torch.nn.MaxPool2d, torch.nn.Identity))]
    assert pools == [4, 9, 16, 23, 30]  # the indices never move, so the keys never move
    assert [i for i in pools if isinstance(model.features[i], torch.nn.Identity)] == identity_pools
    assert model.avgpool.output_size == side
    assert model.classifier[0].in_features == 512 * side * side


def test_vgg_imagenet_form_from_64_pixels() -> None:
    model = _on_meta("vgg11", input_size=64)
    assert model.avgpool.output_size == 7 and model.classifier[0].in_features == 25088


def test_alexnet_small_form_below_64_pixels() -> None:
    small = _on_meta("alexnet", in_chans=1, input_size=28)
    assert small.features[0].kernel_size == (3, 3) and small.features[0].stride == (1, 1)
    assert small.avgpool.output_size == 4  # 28 -> 14 -> 7 -> 4
    assert small.classifier[1].in_features == 256 * 4 * 4
    tiny = _on_meta("alexnet", in_chans=1, input_size=2)
    assert isinstance(tiny.features[5], torch.nn.Identity) and tiny.avgpool.output_size == 1
    large = _on_meta("alexnet", input_size=64)
    assert large.features[0].kernel_size == (11, 11) and large.features[0].stride == (4, 4)
    assert large.avgpool.output_size == 6 and large.classifier[1].in_features == 9216


def test_hidden_narrows_the_classifier() -> None:
    model = _on_meta("vgg11", in_chans=1, input_size=28, hidden=256)
    assert model.classifier[3].weight.shape == (256, 256)


@pytest.mark.parametrize("name", ["alexnet", "vgg11_bn"])
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_chans": 0}, "in_chans of at least 1"),
        ({"input_size": 0}, "input_size of at least 1"),
        ({"num_classes": 0}, "num_classes of at least 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"depth": 16}, "does not take these options"),
    ],
)
def test_impossible_options_raise_config_error(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _on_meta(name, **kwargs)
