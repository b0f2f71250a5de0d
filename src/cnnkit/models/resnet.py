"""ResNet (He et al., 2016, "Deep residual learning for image recognition", arXiv:1512.03385).

Each stage stacks residual blocks y = relu(F(x) + shortcut(x)): the block learns the residual
F(x) = H(x) - x, so an extra block can at worst learn F = 0 and copy its input. The shortcut is
the identity, or a strided 1x1 convolution with BatchNorm (the paper's option B) where a block
changes the width or the resolution. The blocks come from ``cnnkit.layers``:
``BasicBlock`` and ``Bottleneck``.

Variants: ``resnet18`` and ``resnet34`` stack basic blocks (two 3x3 convolutions);
``resnet50``, ``resnet101`` and ``resnet152`` stack bottleneck blocks (1x1 reduce, 3x3, 1x1
expand by 4). The bottleneck strides its 3x3 convolution, not its first 1x1 as in the paper:
this is "ResNet v1.5", the form in common use, which is slightly more accurate (a strided 1x1
convolution skips three quarters of its input).

Stem: inputs of 64 pixels and more get the paper's ImageNet stem (7x7 convolution, stride 2,
then a 3x3 max-pool, stride 2: 224 -> 56). Inputs smaller than 64 pixels (8x8 digits, 28x28
Fashion-MNIST, 32x32 CIFAR) get the CIFAR-style stem of the paper's section 4.2 (one 3x3
convolution, stride 1, no max-pool), because a 4x reduction of a 28x28 image before the first
block leaves layer4 nothing to see. ``stem="imagenet"`` or ``"cifar"`` overrides the rule.

State-dict keys follow the de-facto standard layout (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0``, ``fc``, ...), so the weights of a torchvision ``resnet50()`` load
with ``load_state_dict`` without renaming (ImageNet stem only: the CIFAR stem's conv1 is 3x3).

``zero_init_last=True`` starts the last BatchNorm of every block at gamma = 0, so each block
begins as the identity (Goyal et al., 2017, arXiv:1706.02677); it helps large-batch training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.layers import BasicBlock, Bottleneck
from cnnkit.models._registry import register_model

__all__ = ["ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]

_SMALL_INPUT = 64  # pixels: below this, the CIFAR-style stem


_BLOCKS: dict[str, type[BasicBlock | Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """ResNet (He et al., 2016): stem, four stages of residual blocks (64-128-256-512 wide), global average pool, fc."""

    def __init__(
        self,
        block: str = "basic",
        layers: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 1000,
        in_chans: int = 3,
        input_size: int = 224,
        dropout: float = 0.0,
        stem: str = "auto",
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        if block not in _BLOCKS:
            raise ConfigError(f"resnet block must be 'basic' or 'bottleneck', got {block!r}")
        if len(layers) != 4 or min(layers) < 1:
            raise ConfigError(f"resnet needs four stages of at least one block each, got layers={list(layers)}")
        if stem not in ("auto", "imagenet", "cifar"):
            raise ConfigError(f"resnet stem must be 'auto', 'imagenet' or 'cifar', got {stem!r}")
        small = stem == "cifar" or (stem == "auto" and input_size < _SMALL_INPUT)
        block_class = _BLOCKS[block]

        if small:
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)

        previous = 64
        for index, (width, depth) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if index == 0 else 2  # the first stage follows the stem's reduction
            blocks = []
            for position in range(depth):
                blocks.append(block_class(previous, width, stride if position == 0 else 1))
                previous = width * block_class.expansion
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(previous, num_classes)
        self._init_weights(zero_init_last)

    def _init_weights(self, zero_init_last: bool) -> None:
        # He et al. (2015) initialisation for ReLU networks, as in the paper.
        if next(self.parameters()).is_meta:
            # A meta-device twin (cnnkit models, summary, rf) has no values to set, and torch's meta
            # normal_ is a Python reference kernel whose first call imports torch._dynamo (~1 s).
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_last:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(module.last_norm().weight)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4); (N, 64, H, W) for small inputs
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512 * expansion, H/32, W/32)
        x = self.avgpool(x).flatten(1)                         # (N, 512 * expansion)
        return self.fc(self.dropout(x))                        # (N, num_classes)


@register_model
def resnet18(**kw: Any) -> ResNet:
    """ResNet-18 (He et al., 2016): basic blocks, stages (2, 2, 2, 2)."""
    return ResNet(block="basic", layers=(2, 2, 2, 2), **kw)


@register_model
def resnet34(**kw: Any) -> ResNet:
    """ResNet-34 (He et al., 2016): basic blocks, stages (3, 4, 6, 3)."""
    return ResNet(block="basic", layers=(3, 4, 6, 3), **kw)


@register_model
def resnet50(**kw: Any) -> ResNet:
    """ResNet-50 v1.5 (He et al., 2016): bottleneck blocks, stages (3, 4, 6, 3)."""
    return ResNet(block="bottleneck", layers=(3, 4, 6, 3), **kw)


@register_model
def resnet101(**kw: Any) -> ResNet:
    """ResNet-101 v1.5 (He et al., 2016): bottleneck blocks, stages (3, 4, 23, 3)."""
    return ResNet(block="bottleneck", layers=(3, 4, 23, 3), **kw)


@register_model
def resnet152(**kw: Any) -> ResNet:
    """ResNet-152 v1.5 (He et al., 2016): bottleneck blocks, stages (3, 8, 36, 3)."""
    return ResNet(block="bottleneck", layers=(3, 8, 36, 3), **kw)
