"""CoAtNet (Dai, Liu, Le and Tan, 2021, "CoAtNet: Marrying convolution and attention for all data
sizes", arXiv:2106.04803).

CoAtNet stacks convolution first and attention last, in the paper's C-C-T-T layout: a stem S0
(two 3x3 convolutions, the first with stride 2), two MBConv stages S1 and S2, and two
Transformer stages S3 and S4 whose self-attention adds a learned 2D relative position bias to
its logits: ``softmax(q k^T / sqrt(d) + B[i - j])``. The bias depends only on the offset between
query and key position, as a convolution kernel does, so the attention stays translation-aware
(the paper's "relative attention", section 2.1). Every stage halves the map in its first block,
so a 224x224 image reaches S4 at 7x7.

Blocks are pre-norm residuals (section 2.3). Down-sampling blocks are
``x <- Proj(Pool(x)) + F(Pool(Norm(x)))`` in the Transformer stages and
``x <- Proj(Pool(x)) + F(Norm(x))`` with a strided depthwise convolution in the MBConv stages
(the paper strides the first 1x1 convolution; striding the 3x3 depthwise one, as later public
implementations do, sees every input pixel and has the same parameters). MBConv: BatchNorm, 1x1
expansion to 4x the output width, 3x3 depthwise, squeeze-excitation (reduction to a quarter of
the block's output width), 1x1 projection; GELU throughout. Transformer: LayerNorm, multi-head
relative attention (32 channels per head), LayerNorm, MLP with ratio 4. Head: global average
pool, LayerNorm, a D4-wide pre-logits layer (linear + tanh, as in ViT), dropout, linear. The
paper does not spell out the head or the SE width; these two choices are those of the public
configurations meant to match it, and they bring the counts within 1% of table 3 (without the
pre-logits layer CoAtNet-0 has 24.4M parameters, 2.2% short of 25M). The blocks come from
``cnnkit.layers``: ``MBConvBlock`` and ``TransformerBlock`` (with ``RelativeAttention2d``).

Variants (the paper's table 3; L = blocks per stage S0..S4, D = widths):
``coatnet_0`` L=(2, 2, 3, 5, 2), D=(64, 96, 192, 384, 768), 25M parameters;
``coatnet_1`` L=(2, 2, 6, 14, 2), same D, 42M; ``coatnet_2`` L=(2, 2, 6, 14, 2),
D=(128, 128, 256, 512, 1024), 75M.

Input size: the relative bias tables hold (2H-1)(2W-1) entries per head for a stage of H x W
positions, so the model is built for one ``input_size`` and ``forward`` rejects any other size
with ConfigError (it does not interpolate the tables). Inputs of 64 pixels and more follow the
paper (five stride-2 steps, 224 -> 7). Inputs smaller than 64 pixels (8x8 digits, 28x28
Fashion-MNIST, 32x32 CIFAR) get the small-input form: the stem keeps stride 1, and a stage
whose halving would leave a map smaller than 2x2 keeps its size. A 28x28 image then meets the
attention stages at 4x4 and 2x2 (28 -> 28, 14, 7, 4, 2); an 8x8 one at 2x2 (8 -> 8, 4, 2, 2, 2).
The smallest input is 2 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.layers import MBConvBlock, TransformerBlock
from cnnkit.models._registry import register_model

__all__ = ["CoAtNet", "coatnet_0", "coatnet_1", "coatnet_2"]

_SMALL_INPUT = 64  # pixels: below this, the small-input form (stem stride 1)
_MIN_MAP = 2       # a stage never halves its map below 2x2
_MIN_INPUT = 2     # pixels: the smallest input the small-input form accepts


def _halve(size: int) -> int:
    """Output size of a 3x3 stride-2 convolution or max-pool with padding 1: ceil(size / 2)."""
    return (size + 1) // 2


class CoAtNet(nn.Module):
    """CoAtNet (Dai et al., 2021): conv stem, two MBConv stages, two relative-attention stages, pool, LayerNorm, pre-logits, fc."""

    def __init__(
        self,
        depths: Sequence[int] = (2, 2, 3, 5, 2),
        widths: Sequence[int] = (64, 96, 192, 384, 768),
        num_classes: int = 1000,
        in_chans: int = 3,
        input_size: int = 224,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(depths) != 5 or len(widths) != 5 or min(depths) < 1:
            raise ConfigError(f"coatnet needs five stages S0..S4 of at least one block, got depths={list(depths)}")
        if not isinstance(input_size, int) or input_size < _MIN_INPUT:
            raise ConfigError(f"coatnet needs input_size of at least {_MIN_INPUT} pixels, got {input_size!r}")
        self.input_size = input_size
        small = input_size < _SMALL_INPUT

        # S0: two 3x3 convolutions, the first with stride 2 (stride 1 in the small-input form).
        stride = 1 if small else 2
        size = _halve(input_size) if stride == 2 else input_size
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.GELU(),
            nn.Conv2d(widths[0], widths[0], 3, padding=1),
        )
        sizes = [size]
        stages: list[nn.Sequential] = []
        previous = widths[0]
        for index in range(1, 5):
            halve = _halve(size) >= _MIN_MAP  # the small-input form stops at 2x2; >= 64 pixels never does
            size = _halve(size) if halve else size
            sizes.append(size)
            blocks: list[nn.Module] = []
            for position in range(depths[index]):
                first = position == 0
                if index <= 2:
                    blocks.append(MBConvBlock(previous, widths[index], stride=2 if first and halve else 1))
                else:
                    blocks.append(TransformerBlock(previous, widths[index], (size, size), downsample=first and halve))
                previous = widths[index]
            stages.append(nn.Sequential(*blocks))
        self.sizes = tuple(sizes)  # map side after S0..S4
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(previous)
        # Pre-logits layer (linear + tanh, as in ViT), the head of the paper's released configurations.
        self.pre_logits = nn.Sequential(nn.Linear(previous, previous), nn.Tanh())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(previous, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ConfigError(
                f"coatnet was built for {self.input_size}x{self.input_size} inputs (its relative position "
                f"bias tables are size-specific), got {tuple(x.shape[-2:])}; build it with input_size={x.shape[-1]}"
            )
        x = self.stages(self.stem(x))   # (N, D4, H/32, W/32); larger in the small-input form
        x = self.pre_logits(self.norm(x.mean((2, 3))))  # (N, D4)
        return self.head(self.dropout(x))               # (N, num_classes)


@register_model
def coatnet_0(**kw: Any) -> CoAtNet:
    """CoAtNet-0 (Dai et al., 2021): C-C-T-T, blocks (2, 2, 3, 5, 2), widths (64, 96, 192, 384, 768)."""
    return CoAtNet(depths=(2, 2, 3, 5, 2), widths=(64, 96, 192, 384, 768), **kw)


@register_model
def coatnet_1(**kw: Any) -> CoAtNet:
    """CoAtNet-1 (Dai et al., 2021): C-C-T-T, blocks (2, 2, 6, 14, 2), widths (64, 96, 192, 384, 768)."""
    return CoAtNet(depths=(2, 2, 6, 14, 2), widths=(64, 96, 192, 384, 768), **kw)


@register_model
def coatnet_2(**kw: Any) -> CoAtNet:
    """CoAtNet-2 (Dai et al., 2021): C-C-T-T, blocks (2, 2, 6, 14, 2), widths (128, 128, 256, 512, 1024)."""
    return CoAtNet(depths=(2, 2, 6, 14, 2), widths=(128, 128, 256, 512, 1024), **kw)
