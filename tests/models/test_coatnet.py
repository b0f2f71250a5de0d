"""CoAtNet: parameter counts against the paper, the small-input rule, relative attention against a brute-force loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.models import create_model
from cnnkit.models.coatnet import MBConvBlock, RelativeAttention2d, TransformerBlock, relative_position_index

# Dai et al. (2021), table 3, at 3x224x224 and 1000 classes (the paper rounds to millions).
PAPER_PARAMETERS = {"coatnet_0": 25e6, "coatnet_1": 42e6, "coatnet_2": 75e6}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMETERS))
def test_parameter_count_within_two_percent_of_paper(name: str) -> None:
    with torch.device("meta"):  # shapes are enough to count
        model = create_model(name)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / PAPER_PARAMETERS[name] - 1) < 0.02, count


def test_coatnet_0_count_is_pinned() -> None:
    with torch.device("meta"):
        model = create_model("coatnet_0")
    assert sum(p.numel() for p in model.parameters()) == 25_036_884


@pytest.mark.parametrize(
    ("size", "sizes"),
    [
        (224, (112, 56, 28, 14, 7)),  # the paper: five stride-2 steps
        (64, (32, 16, 8, 4, 2)),
        (32, (32, 16, 8, 4, 2)),      # small-input form: stem stride 1
        (28, (28, 14, 7, 4, 2)),
        (8, (8, 4, 2, 2, 2)),         # stages that would go below 2x2 keep their size
        (2, (2, 2, 2, 2, 2)),
    ],
)
def test_map_sizes_follow_the_small_input_rule(size: int, sizes: tuple[int, ...]) -> None:
    with torch.device("meta"):
        model = create_model("coatnet_0", input_size=size)
    assert model.sizes == sizes


@pytest.mark.parametrize(("in_chans", "size"), [(1, 28), (3, 32)])
def test_coatnet_0_forward_backward_on_small_images(in_chans: int, size: int) -> None:
    torch.manual_seed(0)
    model = create_model("coatnet_0", num_classes=10, in_chans=in_chans, input_size=size)
    x = torch.randn(2, in_chans, size, size, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())  # every parameter, bias tables included, is used


def test_bias_tables_are_sized_for_their_stage() -> None:
    with torch.device("meta"):
        model = create_model("coatnet_0", input_size=28)  # S3 at 4x4, S4 at 2x2
    s3, s4 = model.stages[2][0].attn, model.stages[3][0].attn
    assert s3.relative_bias.shape == (7 * 7, 384 // 32)  # S3 is D3 = 384 wide: 12 heads of 32
    assert s4.relative_bias.shape == (3 * 3, 768 // 32)
    assert s3.relative_index.shape == (16, 16)


def test_relative_index_maps_equal_offsets_to_the_same_entry() -> None:
    height, width = 3, 4
    index = relative_position_index(height, width)
    assert index.shape == (12, 12)
    positions = [(r, c) for r in range(height) for c in range(width)]
    entry_of_offset: dict[tuple[int, int], int] = {}
    for i, (ri, ci) in enumerate(positions):
        for j, (rj, cj) in enumerate(positions):
            offset = (ri - rj, ci - cj)
            # the same offset anywhere on the map reads the same entry, and different offsets differ
            assert entry_of_offset.setdefault(offset, int(index[i, j])) == int(index[i, j])
    assert len(entry_of_offset) == (2 * height - 1) * (2 * width - 1)
    assert sorted(entry_of_offset.values()) == list(range((2 * height - 1) * (2 * width - 1)))


def test_relative_attention_equals_brute_force() -> None:
    torch.manual_seed(0)
    height, width, chans = 3, 4, 64
    attn = RelativeAttention2d(chans, chans, (height, width)).double()
    nn.init.normal_(attn.relative_bias)  # large enough to matter
    x = torch.randn(2, height * width, chans, dtype=torch.float64)
    qkv = x @ attn.qkv.weight.T + attn.qkv.bias
    q, k, v = qkv.split(chans, dim=-1)
    positions = [(r, c) for r in range(height) for c in range(width)]
    out = torch.zeros(2, height * width, chans, dtype=torch.float64)
    for h in range(attn.heads):
        part = slice(32 * h, 32 * (h + 1))
        logits = torch.zeros(2, height * width, height * width, dtype=torch.float64)
        for i, (ri, ci) in enumerate(positions):
            for j, (rj, cj) in enumerate(positions):
                entry = (ri - rj + height - 1) * (2 * width - 1) + (ci - cj + width - 1)
                logits[:, i, j] = (q[:, i, part] * k[:, j, part]).sum(-1) / 32**0.5 + attn.relative_bias[entry, h]
        out[:, :, part] = logits.softmax(-1) @ v[:, :, part]
    expected = out @ attn.proj.weight.T + attn.proj.bias
    with torch.no_grad():
        torch.testing.assert_close(attn(x), expected)


def test_downsampling_blocks_pool_the_shortcut() -> None:
    mb = MBConvBlock(16, 32, stride=2)
    assert isinstance(mb.shortcut[0], nn.AvgPool2d) and isinstance(mb.shortcut[1], nn.Conv2d)
    assert mb(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)
    block = TransformerBlock(32, 64, (2, 2), downsample=True)
    assert isinstance(block.shortcut[0], nn.MaxPool2d)
    assert block(torch.randn(2, 32, 4, 4)).shape == (2, 64, 2, 2)


def test_impossible_input_size_names_the_minimum() -> None:
    with pytest.raises(ConfigError, match="at least 2 pixels"):
        create_model("coatnet_0", input_size=1)


def test_forward_rejects_another_input_size() -> None:
    with torch.device("meta"):
        model = create_model("coatnet_0", in_chans=1, input_size=28)
    with pytest.raises(ConfigError, match="built for 28x28.*input_size=32"):
        model(torch.randn(1, 1, 32, 32, device="meta"))


def test_attention_width_must_split_into_heads() -> None:
    with pytest.raises(ConfigError, match="multiple of head_dim"):
        RelativeAttention2d(48, 48, (2, 2))
