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
pre-logits layer CoAtNet-0 has 24.4M parameters, 2.2% short of 25M).

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

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.models._registry import register_model

__all__ = [
    "MBConvBlock",
    "relative_position_index",
    "RelativeAttention2d",
    "TransformerBlock",
    "CoAtNet",
    "coatnet_0",
    "coatnet_1",
    "coatnet_2",
]

_SMALL_INPUT = 64  # pixels: below this, the small-input form (stem stride 1)
_MIN_MAP = 2       # a stage never halves its map below 2x2
_MIN_INPUT = 2     # pixels: the smallest input the small-input form accepts


def _halve(size: int) -> int:
    """Output size of a 3x3 stride-2 convolution or max-pool with padding 1: ceil(size / 2)."""
    return (size + 1) // 2


class _SqueezeExcite(nn.Module):
    """Squeeze-excitation (Hu et al., 2018): scale channels by a gate computed from their means."""

    def __init__(self, chans: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(chans, reduced, kernel_size=1)
        self.act = nn.GELU()
        self.expand = nn.Conv2d(reduced, chans, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        gate = self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True))))  # (N, C, 1, 1)
        return x * gate.sigmoid()


class MBConvBlock(nn.Module):
    """Pre-norm MBConv block of CoAtNet's S1/S2: x + 1x1(SE(dw3x3(1x1(BN(x))))), expansion 4."""

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1, expansion: int = 4) -> None:
        super().__init__()
        mid = out_chans * expansion
        if stride == 1 and in_chans == out_chans:
            self.shortcut: nn.Module = nn.Identity()
        else:  # the paper's Proj(Pool(x)): average pooling, then a 1x1 projection
            pool = nn.AvgPool2d(kernel_size=2, stride=2, ceil_mode=True) if stride == 2 else nn.Identity()
            self.shortcut = nn.Sequential(pool, nn.Conv2d(in_chans, out_chans, kernel_size=1))
        self.norm = nn.BatchNorm2d(in_chans)
        self.expand = nn.Sequential(nn.Conv2d(in_chans, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.GELU())
        self.depthwise = nn.Sequential(
            nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.GELU()
        )
        self.se = _SqueezeExcite(mid, max(1, out_chans // 4))
        self.project = nn.Conv2d(mid, out_chans, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.expand(self.norm(x))               # (N, 4 * C_out, H, W)
        y = self.se(self.depthwise(y))              # (N, 4 * C_out, H / stride, W / stride)
        return self.shortcut(x) + self.project(y)   # (N, C_out, H / stride, W / stride)


def relative_position_index(height: int, width: int) -> Tensor:
    """(HW, HW) index into a (2H-1)(2W-1) table: entry [i, j] depends only on position i minus position j."""
    # Computed on the CPU, then moved to the default device: under torch.device("meta") (cnnkit models,
    # summary, rf) arange/stack would run torch's Python reference kernels, which import torch._dynamo
    # and sympy, a second of start-up for a few hundred integers.
    cpu = torch.device("cpu")
    rows, cols = torch.meshgrid(torch.arange(height, device=cpu), torch.arange(width, device=cpu), indexing="ij")
    coords = torch.stack((rows.flatten(), cols.flatten()))  # (2, HW)
    offset = coords[:, :, None] - coords[:, None, :]         # (2, HW, HW), dy in [-(H-1), H-1]
    index = (offset[0] + height - 1) * (2 * width - 1) + (offset[1] + width - 1)
    return index.to(torch.get_default_device())


class RelativeAttention2d(nn.Module):
    """Multi-head self-attention over an H x W map with a learned relative position bias per head."""

    def __init__(self, in_chans: int, out_chans: int, size: tuple[int, int], head_dim: int = 32) -> None:
        super().__init__()
        if out_chans % head_dim:
            raise ConfigError(f"coatnet attention width {out_chans} is not a multiple of head_dim {head_dim}")
        self.heads = out_chans // head_dim
        self.head_dim = head_dim
        self.size = size
        height, width = size
        self.qkv = nn.Linear(in_chans, 3 * out_chans)
        self.proj = nn.Linear(out_chans, out_chans)
        # One learned scalar per head and relative offset (dy, dx): (2H-1)(2W-1) entries per head.
        self.relative_bias = nn.Parameter(torch.zeros((2 * height - 1) * (2 * width - 1), self.heads))
        nn.init.trunc_normal_(self.relative_bias, std=0.02)
        self.register_buffer("relative_index", relative_position_index(height, width), persistent=False)

    def bias(self) -> Tensor:
        """The (heads, HW, HW) bias added to the attention logits."""
        hw = self.size[0] * self.size[1]
        return self.relative_bias[self.relative_index.flatten()].view(hw, hw, self.heads).permute(2, 0, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, length, _ = x.shape  # (N, HW, C_in)
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # each (N, h, HW, d)
        logits = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5 + self.bias()                     # (N, h, HW, HW)
        y = logits.softmax(dim=-1) @ v                                                              # (N, h, HW, d)
        return self.proj(y.transpose(1, 2).reshape(n, length, -1))                                  # (N, HW, C_out)


class TransformerBlock(nn.Module):
    """Pre-norm Transformer block of CoAtNet's S3/S4: relative attention and an MLP (ratio 4), max-pool down-sampling."""

    def __init__(self, in_chans: int, out_chans: int, size: tuple[int, int], downsample: bool = False) -> None:
        super().__init__()
        self.pool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1) if downsample else nn.Identity()
        if downsample or in_chans != out_chans:  # the paper's Proj(Pool(x))
            pool = nn.MaxPool2d(3, stride=2, padding=1) if downsample else nn.Identity()
            self.shortcut: nn.Module = nn.Sequential(pool, nn.Conv2d(in_chans, out_chans, kernel_size=1))
        else:
            self.shortcut = nn.Identity()
        self.norm1 = nn.LayerNorm(in_chans)
        self.attn = RelativeAttention2d(in_chans, out_chans, size)  # size: the map after pooling
        self.norm2 = nn.LayerNorm(out_chans)
        self.mlp = nn.Sequential(nn.Linear(out_chans, 4 * out_chans), nn.GELU(), nn.Linear(4 * out_chans, out_chans))

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm1(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LayerNorm over channels, (N, C_in, H, W)
        y = self.pool(y)                                           # (N, C_in, H', W')
        n, _, h, w = y.shape
        y = self.attn(y.flatten(2).transpose(1, 2))                # (N, H'W', C_out)
        x = self.shortcut(x).flatten(2).transpose(1, 2) + y        # tokens, (N, H'W', C_out)
        x = x + self.mlp(self.norm2(x))
        return x.transpose(1, 2).reshape(n, -1, h, w)              # (N, C_out, H', W')


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
