"""2D relative self-attention and CoAtNet's Transformer block (Dai et al., 2021, "CoAtNet", arXiv:2106.04803).

The attention adds a learned bias that depends only on the offset between query and key position
to its logits, ``softmax(q k^T / sqrt(d) + B[i - j]) v`` (the paper's "relative attention", section
2.1), so it stays translation-aware as a convolution kernel is. The bias table holds (2H-1)(2W-1)
entries per head, so a layer is built for one H x W map. The Transformer block is pre-norm (section
2.3): LayerNorm, relative attention, LayerNorm, MLP with ratio 4, and down-samples as
``x <- Proj(Pool(x)) + Attention(Pool(Norm(x)))``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError

__all__ = ["relative_position_index", "RelativeAttention2d", "TransformerBlock"]


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
    """Multi-head self-attention over an H x W map with a learned relative position bias per head (Dai et al., 2021)."""

    def __init__(self, in_chans: int, out_chans: int, size: tuple[int, int], head_dim: int = 32) -> None:
        super().__init__()
        if out_chans % head_dim:
            raise ConfigError(f"relative attention width {out_chans} is not a multiple of head_dim {head_dim}")
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
    """Pre-norm Transformer block of CoAtNet's S3/S4 (Dai et al., 2021): relative attention, MLP (ratio 4), max-pool down-sampling."""

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
