"""ResNet: the stem rule, the standard state-dict layout, zero-init of the last norms (blocks: tests/layers/)."""

from __future__ import annotations

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.layers import Bottleneck
from cnnkit.models import create_model


@pytest.mark.parametrize(("in_chans", "size"), [(1, 28), (3, 32), (1, 8)])
def test_small_inputs_use_the_cifar_stem(in_chans: int, size: int) -> None:
    model = create_model("resnet18", num_classes=10, in_chans=in_chans, input_size=size).eval()
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    with torch.no_grad():
        assert model(torch.rand(3, in_chans, size, size)).shape == (3, 10)


def test_large_inputs_use_the_imagenet_stem_and_the_override_wins() -> None:
    model = create_model("resnet18", input_size=64)
    assert model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)
    assert isinstance(model.maxpool, torch.nn.MaxPool2d)
    assert create_model("resnet18", input_size=32, stem="imagenet").conv1.kernel_size == (7, 7)
    assert create_model("resnet18", input_size=224, stem="cifar").conv1.kernel_size == (3, 3)


def test_state_dict_uses_the_standard_key_layout() -> None:
    # Keys and shapes of torchvision's resnet18()/resnet50(), written out by hand.
    with torch.device("meta"):
        r18 = create_model("resnet18").state_dict()
        r50 = create_model("resnet50").state_dict()
    assert len(r18) == 122 and len(r50) == 320
    expected = {
        "resnet18": {
            "conv1.weight": (64, 3, 7, 7),
            "bn1.running_var": (64,),
            "layer1.1.conv2.weight": (64, 64, 3, 3),
            "layer2.0.downsample.0.weight": (128, 64, 1, 1),
            "layer2.0.downsample.1.num_batches_tracked": (),
            "fc.weight": (1000, 512),
        },
        "resnet50": {
            "layer1.0.conv3.weight": (256, 64, 1, 1),
            "layer1.0.downsample.0.weight": (256, 64, 1, 1),
            "layer3.5.bn3.bias": (1024,),
            "layer4.2.conv2.weight": (512, 512, 3, 3),
            "fc.bias": (1000,),
        },
    }
    for state, shapes in ((r18, expected["resnet18"]), (r50, expected["resnet50"])):
        assert {key: tuple(state[key].shape) for key in shapes} == shapes
    assert "layer1.0.downsample.0.weight" not in r18  # identity shortcut: no projection


def test_zero_init_last_makes_every_block_start_as_the_identity() -> None:
    model = create_model("resnet50", input_size=32, zero_init_last=True).eval()
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16 and all(b.bn3.weight.abs().sum() == 0 for b in blocks)
    block = blocks[1]  # no projection: relu(0 + x) is x for x >= 0
    x = torch.rand(2, 256, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    assert create_model("resnet50", input_size=32).layer1[1].bn3.weight.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"stem": "tiny"}, "stem must be"), ({"block": "basic"}, "does not take these options")],
)
def test_bad_options_raise_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_model("resnet18", **kwargs)
