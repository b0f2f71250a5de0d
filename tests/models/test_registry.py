"""Contract tests over every registered model: a new model is tested the moment it registers."""

from __future__ import annotations

import json
import re

import pytest
import torch

from cnnkit.errors import ConfigError, UnknownModelError
from cnnkit.models import create_model, describe_models, get_model_entry, list_models, register_model

# Published or hand-derived parameter counts at the registered default configuration.
PUBLISHED_PARAMETERS = {
    # LeNet-5, modern reading at 1x28x28: conv 6x(1*25+1) + conv 16x(6*25+1)
    # + fc 400*120+120 + fc 120*84+84 + fc 84*10+10
    "lenet5": 6 * 26 + 16 * 151 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10,
    # LeNet-5 as published, the paper's own count: C1 156 + S2 12 + C3 1,516 + S4 32
    # + C5 48,120 + F6 10,164 (the RBF prototypes are fixed)
    "lenet5_1998": 60_000,
    # ResNets at 3x224x224 and 1000 classes: the counts published with the torchvision
    # ImageNet weights (He et al., 2016 gives only FLOPs); v1.5 moves a stride, not a weight.
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    # AlexNet (single tower) and VGG at 3x224x224 and 1000 classes: the counts published with
    # the torchvision ImageNet weights, whose key layout cnnkit follows.
    "alexnet": 61_100_840,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg13_bn": 133_053_736,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
}

# Above this many parameters at the default configuration a model is "big" (VGG: 133-144M):
# building and running its ImageNet form costs seconds per test on a shared CPU, so the
# contract tests use its small-input form; its family tests cover the ImageNet form.
_BIG = 100_000_000


def _parameters_on_meta(name: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in create_model(name).parameters())


@pytest.mark.parametrize("name", list_models(task="classification"))
def test_forward_backward_and_json_kwargs(name: str) -> None:
    entry = get_model_entry(name)
    size = min(entry.input_size, 32 if _parameters_on_meta(name) > _BIG else 64)
    kwargs = {"num_classes": 7, "in_chans": entry.in_chans, "input_size": size}
    model = create_model(name, **json.loads(json.dumps(kwargs)))  # kwargs survive a JSON round trip
    x = torch.randn(2, entry.in_chans, size, size, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert model.cnnkit_name == name and model.cnnkit_kwargs == kwargs


@pytest.mark.parametrize("name", list_models(task="classification"))
def test_small_inputs_train(name: str) -> None:
    """Every model accepts 28x28 greyscale images, and the 8x8 digits or says its minimum size."""
    for size in (8, 28):
        try:
            model = create_model(name, num_classes=10, in_chans=1, input_size=size)
        except ConfigError as err:  # a fixed-size network (lenet5_1998) names a size it takes
            assert size == 8 and any(int(n) > 8 for n in re.findall(r"\d+", str(err))), err
            continue
        assert model(torch.randn(3, 1, size, size)).shape == (3, 10)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_parameter_count_matches_published(name: str) -> None:
    with torch.device("meta"):  # shapes are enough to count, so ResNet-152 costs no time or memory
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS[name]


def test_lenet5_hand_count_is_the_published_61706() -> None:
    assert PUBLISHED_PARAMETERS["lenet5"] == 61_706


def test_describe_models_counts_parameters_on_meta_device() -> None:
    rows = {row.name: row for row in describe_models()}
    for name in list_models():
        if rows[name].parameters > _BIG:
            continue  # allocating and initialising 138M weights proves nothing more; counted above on meta
        real = sum(p.numel() for p in create_model(name).parameters())
        assert rows[name].parameters == real


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match="did you mean 'lenet5'"):
        create_model("lenet")


def test_registering_a_name_twice_raises() -> None:
    def lenet5(**kw):  # noqa: ANN003, ANN202
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="registered twice"):
        register_model(lenet5)


def test_list_models_filters_by_pattern() -> None:
    assert list_models("lenet*") == ["lenet5", "lenet5_1998"]
    assert sorted(list_models()) == sorted(set(list_models()))


def test_names_sort_as_people_read_them() -> None:
    names = list_models("resnet*")
    assert names == sorted(names, key=lambda n: int(n.removeprefix("resnet")))
    assert list_models("vgg1*")[:2] == ["vgg11", "vgg11_bn"]
