"""The super-resolution networks of the lecture and the one that followed it.

SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): on a bicubic-upscaled luminance image, f1 x f1
patch extraction into 64 maps, f2 x f2 non-linear mapping into 32, f3 x f3 reconstruction,
ReLU between; 9-1-5 has 8,032 weights, 9-5-5 57,184 (the paper's counts, biases excluded).
The paper trains without padding, so its output is (f1 + f2 + f3 - 3) pixels smaller than
its input; ``border="valid"`` does that, ``border="replicate"`` (the default) pads each layer's
input by repeating the edge so the output keeps the input's size.

FSRCNN (Dong, Loy & Tang, ECCV 2016) works at the low resolution and learns the upsampling:
5x5 feature extraction (d = 56), 1x1 shrinking (s = 12), m = 4 3x3 mapping layers, 1x1
expanding, PReLU between, and a 9x9 deconvolution of stride ``scale``: 12,464 weights, and
about scale^2 fewer multiply-adds per output pixel than SRCNN, for the same or better PSNR.

ESPCN (Shi et al., CVPR 2016) also works at the low resolution and upsamples last, by a
convolution to scale^2 channels rearranged into a scale x scale block per pixel (sub-pixel
convolution, ``nn.PixelShuffle``): 5x5 x 64, 3x3 x 32, 3x3 x scale^2. ``espcn_residual``, the
shipped default, is the same idea made deeper and residual: eight 3x3 convolutions of 32 channels
at the low resolution, whose output is added to the bicubic upscaling (VDSR's global residual,
Kim et al., CVPR 2016): about 6,500 multiply-adds per output pixel at x3, a ninth of SRCNN 9-5-5's.

Every network registers in the one registry with ``task="superres"`` (``cnnkit models --task
superres``); ``in_chans`` is 1 (luminance) and ``input_size`` only the patch side it trains on.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.superres.resize import bicubic, check_scale
from cnnkit.errors import ConfigError
from cnnkit.models import register_model

__all__ = ["ESPCN", "FSRCNN", "SRCNN"]

_BORDERS = ("replicate", "valid")


class _BorderConv(nn.Conv2d):
    """A k x k convolution whose input is padded by repeating its edge (or not padded at all)."""

    def __init__(self, in_chans: int, out_chans: int, kernel: int, border: str) -> None:
        super().__init__(in_chans, out_chans, kernel)
        self.border = border

    def forward(self, x: Tensor) -> Tensor:
        pad = self.kernel_size[0] // 2
        if self.border == "replicate" and pad:
            x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        return super().forward(x)


class SRCNN(nn.Sequential):
    """SRCNN f1-f2-f3 (Dong et al., 2016) on 1-channel luminance upscaled by bicubic interpolation.

    With ``residual=True`` the network predicts what bicubic missed and adds its input back
    (Kim et al., CVPR 2016, VDSR's residual learning); the paper's SRCNN predicts the image."""

    learns_upsampling = False   # its input is the bicubic-upscaled image

    def __init__(self, f1: int = 9, f2: int = 5, f3: int = 5, n1: int = 64, n2: int = 32, *, in_chans: int = 1,
                 border: str = "replicate", residual: bool = False) -> None:
        if border not in _BORDERS:
            raise ConfigError(f"border must be one of {', '.join(_BORDERS)}, got {border!r}")
        for name, k in (("f1", f1), ("f2", f2), ("f3", f3)):
            if not (isinstance(k, int) and k >= 1 and k % 2 == 1):
                raise ConfigError(f"{name} must be an odd kernel size >= 1, got {k!r}")
        super().__init__(_BorderConv(in_chans, n1, f1, border), nn.ReLU(inplace=True),
                         _BorderConv(n1, n2, f2, border), nn.ReLU(inplace=True),
                         _BorderConv(n2, in_chans, f3, border))
        self.shrink = 0 if border == "replicate" else f1 + f2 + f3 - 3  # the output is this much smaller a side
        self.radius = (f1 + f2 + f3 - 3) // 2                           # input pixels each output sees, a side
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) bicubic-upscaled luminance to the restored luminance (smaller by ``shrink``)."""
        out = super().forward(x)
        if not self.residual:
            return out
        s = self.shrink // 2
        return out + (x[..., s:x.shape[-2] - s, s:x.shape[-1] - s] if s else x)


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) (Dong, Loy & Tang, 2016): low-resolution features, a learned x``scale`` deconvolution."""

    learns_upsampling = True    # its input is the low-resolution image

    def __init__(self, scale: int = 3, d: int = 56, s: int = 12, m: int = 4, *, in_chans: int = 1) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.radius = 2 + m + 2  # low-resolution pixels each output sees, a side: 5x5, m 3x3, the 9x9 deconvolution
        layers: list[nn.Module] = [nn.Conv2d(in_chans, d, 5, padding=2), nn.PReLU(d),
                                   nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        self.upsample = nn.ConvTranspose2d(d, in_chans, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, h, w) low-resolution luminance to (N, C, scale h, scale w)."""
        return self.upsample(self.body(x))


class ESPCN(nn.Module):
    """Sub-pixel convolution network (Shi et al., 2016): low-resolution convolutions, then ``PixelShuffle``.

    ``widths`` and ``kernels`` give the layers before the last (ReLU after each); the last
    convolution has ``kernel`` x ``kernel`` x scale^2 outputs. With ``residual=True`` the result
    is added to the bicubic upscaling of the input, so the network learns only what bicubic misses."""

    learns_upsampling = True

    def __init__(self, scale: int = 3, widths: tuple[int, ...] = (64, 32), kernels: tuple[int, ...] = (5, 3),
                 kernel: int = 3, *, in_chans: int = 1, residual: bool = False) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        widths, kernels = tuple(widths), tuple(kernels)
        if len(widths) != len(kernels) or not widths:
            raise ConfigError(f"ESPCN needs one kernel size per width, got widths {widths} and kernels {kernels}")
        for k in (*kernels, kernel):
            if not (isinstance(k, int) and k >= 1 and k % 2 == 1):
                raise ConfigError(f"kernel sizes must be odd integers >= 1, got {k!r}")
        layers: list[nn.Module] = []
        chans = in_chans
        for width, k in zip(widths, kernels):
            layers += [nn.Conv2d(chans, width, k, padding=k // 2), nn.ReLU(inplace=True)]
            chans = width
        layers += [nn.Conv2d(chans, in_chans * scale * scale, kernel, padding=kernel // 2), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)
        self.residual = residual
        self.radius = sum(k // 2 for k in (*kernels, kernel)) + (2 if residual else 0)  # bicubic reads 2 more

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, h, w) low-resolution luminance to (N, C, scale h, scale w)."""
        out = self.body(x)
        if self.residual:
            out = out + bicubic(x, (x.shape[-2] * self.scale, x.shape[-1] * self.scale))
        return out


@register_model(task="superres")
def srcnn_915(in_chans: int = 1, input_size: int = 33, border: str = "replicate", residual: bool = False) -> SRCNN:
    """SRCNN 9-1-5 (Dong et al., 2014): 8,032 weights, on bicubic-upscaled luminance."""
    return SRCNN(9, 1, 5, in_chans=in_chans, border=border, residual=residual)


@register_model(task="superres")
def srcnn_935(in_chans: int = 1, input_size: int = 33, border: str = "replicate", residual: bool = False) -> SRCNN:
    """SRCNN 9-3-5 (Dong et al., 2016): 24,416 weights, on bicubic-upscaled luminance."""
    return SRCNN(9, 3, 5, in_chans=in_chans, border=border, residual=residual)


@register_model(task="superres")
def srcnn_955(in_chans: int = 1, input_size: int = 33, border: str = "replicate", residual: bool = False) -> SRCNN:
    """SRCNN 9-5-5 (Dong et al., 2016): 57,184 weights, the paper's best, on bicubic-upscaled luminance."""
    return SRCNN(9, 5, 5, in_chans=in_chans, border=border, residual=residual)


@register_model(task="superres")
def fsrcnn(scale: int = 3, in_chans: int = 1, input_size: int = 16, d: int = 56, s: int = 12, m: int = 4) -> FSRCNN:
    """FSRCNN(56, 12, 4) (Dong, Loy & Tang, 2016): low-resolution input, learned 9x9 deconvolution."""
    return FSRCNN(scale, d, s, m, in_chans=in_chans)


@register_model(task="superres")
def espcn(scale: int = 3, in_chans: int = 1, input_size: int = 16) -> ESPCN:
    """ESPCN (Shi et al., 2016): 5x5x64, 3x3x32, 3x3 sub-pixel convolution at low resolution."""
    return ESPCN(scale, (64, 32), (5, 3), 3, in_chans=in_chans)


@register_model(task="superres")
def espcn_residual(scale: int = 3, in_chans: int = 1, input_size: int = 16, width: int = 32,
                   depth: int = 8) -> ESPCN:
    """The shipped default: ESPCN deepened (8 3x3 convolutions of 32 at low resolution) and residual on bicubic."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ConfigError(f"depth must be an integer >= 2 (convolutions), got {depth!r}")
    return ESPCN(scale, (width,) * (depth - 1), (3,) * (depth - 1), 3, in_chans=in_chans, residual=True)
