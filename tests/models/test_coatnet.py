"""CoAtNet: parameter counts against the paper, the small-input rule, bias tables sized per stage (blocks: tests/layers/)."""

from __future__ import annotations

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.models import create_model

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


def test_impossible_input_size_names_the_minimum() -> None:
    with pytest.raises(ConfigError, match="at least 2 pixels"):
        create_model("coatnet_0", input_size=1)


def test_forward_rejects_another_input_size() -> None:
    with torch.device("meta"):
        model = create_model("coatnet_0", in_chans=1, input_size=28)
    with pytest.raises(ConfigError, match="built for 28x28.*input_size=32"):
        model(torch.randn(1, 1, 32, 32, device="meta"))
