"""MBConv: MobileNetV2's inverted residual (Sandler et al., 2018) with squeeze-excitation (Hu et al., 2018), as in CoAtNet.

Papers: Sandler et al., 2018, "MobileNetV2", arXiv:1801.04381; Hu et al., 2018, "Squeeze-and-excitation
networks", arXiv:1709.01507; the pre-norm form of Dai et al., 2021, "CoAtNet", arXiv:2106.04803.

BatchNorm, 1x1 expansion to 4x the output width, 3x3 depthwise convolution, squeeze-excitation
(reduction to a quarter of the block's output width), 1x1 projection; GELU throughout. A
down-sampling block is ``x <- Proj(Pool(x)) + F(Norm(x))`` with the 3x3 depthwise convolution
strided (CoAtNet strides the first 1x1; striding the depthwise one, as later public
implementations do, sees every input pixel and has the same parameters).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["MBConvBlock"]


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
    """Pre-norm MBConv block of CoAtNet's S1/S2 (Dai et al., 2021): x + 1x1(SE(dw3x3(1x1(BN(x))))), expansion 4."""

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
