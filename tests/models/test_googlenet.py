"""GoogLeNet: the published count without the aux heads, aux heads in training only, the small-input rule."""

from __future__ import annotations

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.models import create_model


def _count(model: torch.nn.Module, *, aux: bool) -> int:
    return sum(
        p.numel() for name, p in model.named_parameters() if aux or not name.startswith(("aux1.", "aux2."))
    )


def test_parameter_count_without_aux_is_the_published_6624904() -> None:
    with torch.device("meta"):
        model = create_model("googlenet")
        no_aux = create_model("googlenet", aux=False)
    assert _count(model, aux=False) == 6_624_904
    assert _count(no_aux, aux=True) == 6_624_904  # aux=False builds no heads at all
    # Each head: conv 1x1 (C*128 + BN 2*128) + fc 2048*1024+1024 + fc 1024*1000+1000.
    head = lambda c: c * 128 + 2 * 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000  # noqa: E731
    assert _count(model, aux=True) == 6_624_904 + head(512) + head(528) == 13_004_888


def test_state_dict_uses_the_standard_key_layout() -> None:
    # Keys and shapes of torchvision's googlenet(aux_logits=True), written out by hand.
    with torch.device("meta"):
        state = create_model("googlenet").state_dict()
    expected = {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv1.bn.running_var": (64,),
        "conv3.conv.weight": (192, 64, 3, 3),
        "inception3a.branch1.conv.weight": (64, 192, 1, 1),
        "inception3a.branch2.1.conv.weight": (128, 96, 3, 3),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),
        "inception3a.branch4.1.conv.weight": (32, 192, 1, 1),
        "inception5b.branch2.0.bn.num_batches_tracked": (),
        "aux1.conv.conv.weight": (128, 512, 1, 1),
        "aux2.conv.conv.weight": (128, 528, 1, 1),
        "aux1.fc1.weight": (1024, 2048),
        "aux2.fc2.weight": (1000, 1024),
        "fc.weight": (1000, 1024),
    }
    assert {key: tuple(state[key].shape) for key in expected} == expected


def test_aux_logits_exist_in_training_mode_only() -> None:
    torch.manual_seed(0)
    model = create_model("googlenet", num_classes=10, in_chans=1, input_size=8)
    x = torch.randn(2, 1, 8, 8)
    logits = model.train()(x)
    assert logits.shape == (2, 10)
    assert [a.shape for a in model.aux_logits] == [(2, 10), (2, 10)]
    # The aux logits carry gradient into the network below them.
    sum(a.sum() for a in model.aux_logits).backward()
    assert model.aux1.fc2.weight.grad is not None and model.inception4a.branch1.conv.weight.grad is not None
    assert model.inception5b.branch1.conv.weight.grad is None  # above both heads
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 10)
    assert model.aux_logits is None
    plain = create_model("googlenet", num_classes=10, in_chans=1, input_size=8, aux=False).train()
    assert plain.aux1 is None and plain.aux2 is None
    plain(x)
    assert plain.aux_logits is None


@pytest.mark.parametrize(("in_chans", "size"), [(1, 28), (3, 32), (3, 224)])
def test_forward_shapes(in_chans: int, size: int) -> None:
    model = create_model("googlenet", num_classes=10, in_chans=in_chans, input_size=size, aux=False).eval()
    with torch.no_grad():
        assert model(torch.rand(1, in_chans, size, size)).shape == (1, 10)


def test_small_input_rule() -> None:
    pools = lambda m: [type(getattr(m, f"maxpool{i}")).__name__ for i in range(1, 5)]  # noqa: E731
    with torch.device("meta"):
        large, at64 = create_model("googlenet"), create_model("googlenet", input_size=64)
        small, tiny = create_model("googlenet", input_size=28), create_model("googlenet", input_size=4)
    assert large.conv1.conv.kernel_size == (7, 7) and pools(large) == pools(at64) == ["MaxPool2d"] * 4
    assert small.conv1.conv.kernel_size == (3, 3) and small.conv1.conv.stride == (1, 1)
    assert pools(small) == ["Identity", "Identity", "MaxPool2d", "MaxPool2d"]  # 28 -> 14 -> 7
    assert pools(tiny) == ["Identity", "Identity", "MaxPool2d", "Identity"]    # 4 -> 2, not 1
    assert small.aux1 is not None and tiny.aux1 is None and tiny.aux2 is None  # 2 px at 4a: no aux heads


def test_a_copy_does_not_carry_the_aux_logits_of_a_step() -> None:
    import copy

    model = create_model("googlenet", num_classes=3, in_chans=1, input_size=8).train()
    model(torch.randn(2, 1, 8, 8))
    assert model.aux_logits is not None
    assert copy.deepcopy(model).aux_logits is None  # non-leaf tensors could not be deep-copied


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": 0}, "needs input_size of at least 1, got 0"),
        ({"num_classes": 0}, "needs num_classes of at least 1, got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"aux_dropout": -0.1}, r"aux_dropout must be in \[0, 1\)"),
        ({"aux_logits": True}, "does not take these options"),
    ],
)
def test_bad_options_raise_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_model("googlenet", **kwargs)
