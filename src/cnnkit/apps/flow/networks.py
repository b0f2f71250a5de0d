"""The flow networks of the lecture and the design that followed them.

FlowNetSimple and FlowNetCorr (Dosovitskiy, Fischer et al., ICCV 2015, figure 2): a contracting
part of strided convolutions (conv1 7x7 64 ... conv6 1024, each stride 2, with the published
3x3 conv*_1 layers), then a refinement of four upconvolutions: at each scale a 3x3 convolution
predicts the flow, which is upsampled by a 4x4 transposed convolution and concatenated with the
upconvolved features and the contracting layer of that scale, until flow2 at a quarter of the
input's resolution. FlowNetS stacks the two images (6 channels); FlowNetC runs conv1-conv3 on
each image with shared weights, correlates the two maps (max displacement 20, stride 2: 441
channels) and adds a 1x1 redirection of the first map's features. ``width`` multiplies every
channel count (1.0: the published widths, 38.7M / 39.2M parameters); flows are predicted divided by
``flow_scale`` = 20, as in the published code, and the loss compares every scale's prediction
with the ground truth averaged down to it (the multi-scale EPE loss, weights 0.32, 0.08, 0.02,
0.01, 0.005 for flow2 ... flow6).

PWC-Net (Sun et al., CVPR 2018) made the field move on: a feature pyramid for both images;
from the coarsest level down, the second image's features are warped by the upsampled flow,
a small cost volume (correlation, displacement 4) is built, and a convolutional estimator
predicts the flow from it, the first image's features and the upsampled flow. Warping keeps the
search range small at every level, so it is far smaller for the same accuracy. ``PWCLite`` is
that design with plain (not densely connected) estimators, down to 1/4 of the input as in
PWC-Net, its dilated context network, and RAFT's convex upsampling (Teed & Deng, 2020) from 1/4
to full resolution, which keeps motion edges sharp.

Every network takes the two images stacked on the channels, (N, 6, H, W) for RGB pairs
(``in_chans`` = 6). In training mode it returns the list of predictions, finest first, for the
loss; in eval mode the flow at full resolution in pixels, (N, 2, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.flow._correlation import Correlation
from cnnkit.errors import ConfigError
from cnnkit.models import register_model

__all__ = ["FlowNetC", "FlowNetS", "PWCLite", "multiscale_epe", "warp"]

FLOW_SCALE = 20.0                                # predictions are flow / 20 (the published code's div_flow)
LOSS_WEIGHTS = (0.32, 0.08, 0.02, 0.01, 0.005)  # flow2 ... flow6


def _width(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2), nn.LeakyReLU(0.1, inplace=True))


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True))


def _per_image(in_chans: int) -> int:
    """Channels of one image: the network takes the two stacked, so ``in_chans`` is even (6 for RGB pairs)."""
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 2 or in_chans % 2:
        raise ConfigError(f"in_chans counts both images' channels, an even number (6: two RGB images), got {in_chans!r}")
    return in_chans // 2


def _check_width(width: float) -> float:
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 2:
        raise ConfigError(f"width must be a number in (0, 2] (1: the published channel counts), got {width!r}")
    return float(width)


class _Refinement(nn.Module):
    """FlowNet's expanding part: flow6 from conv6, then four upconvolutions to flow2 (finest first out)."""

    def __init__(self, skips: tuple[int, int, int, int, int], width: float) -> None:
        super().__init__()
        c6, c5, c4, c3, c2 = skips
        d5, d4, d3, d2 = (_width(c, width) for c in (512, 256, 128, 64))
        self.predict6 = nn.Conv2d(c6, 2, 3, 1, 1)
        self.deconv5, self.up6 = _deconv(c6, d5), nn.ConvTranspose2d(2, 2, 4, 2, 1)
        self.predict5 = nn.Conv2d(c5 + d5 + 2, 2, 3, 1, 1)
        self.deconv4, self.up5 = _deconv(c5 + d5 + 2, d4), nn.ConvTranspose2d(2, 2, 4, 2, 1)
        self.predict4 = nn.Conv2d(c4 + d4 + 2, 2, 3, 1, 1)
        self.deconv3, self.up4 = _deconv(c4 + d4 + 2, d3), nn.ConvTranspose2d(2, 2, 4, 2, 1)
        self.predict3 = nn.Conv2d(c3 + d3 + 2, 2, 3, 1, 1)
        self.deconv2, self.up3 = _deconv(c3 + d3 + 2, d2), nn.ConvTranspose2d(2, 2, 4, 2, 1)
        self.predict2 = nn.Conv2d(c2 + d2 + 2, 2, 3, 1, 1)

    def forward(self, c2: Tensor, c3: Tensor, c4: Tensor, c5: Tensor, c6: Tensor) -> list[Tensor]:
        flow6 = self.predict6(c6)
        x = torch.cat([c5, self.deconv5(c6), self.up6(flow6)], 1)
        flow5 = self.predict5(x)
        x = torch.cat([c4, self.deconv4(x), self.up5(flow5)], 1)
        flow4 = self.predict4(x)
        x = torch.cat([c3, self.deconv3(x), self.up4(flow4)], 1)
        flow3 = self.predict3(x)
        x = torch.cat([c2, self.deconv2(x), self.up3(flow3)], 1)
        return [self.predict2(x), flow3, flow4, flow5, flow6]


class _FlowNetBase(nn.Module):
    """What FlowNetS and FlowNetC share: inputs a multiple of 64, the output in pixels at full size."""

    multiple = 64   # six stride-2 layers

    def units(self, count: int) -> list[float]:
        """Every prediction is in full-resolution pixels (/ 20), as in the published code."""
        return [1.0] * count

    def _check(self, image1: Tensor, image2: Tensor) -> None:
        if image1.shape != image2.shape or image1.dim() != 4:
            raise ConfigError(f"the two images must have one shape (N, C, H, W), got {tuple(image1.shape)} and "
                              f"{tuple(image2.shape)}")
        if image1.shape[-1] % self.multiple or image1.shape[-2] % self.multiple:
            raise ConfigError(f"{type(self).__name__} takes sides that are multiples of {self.multiple}, got "
                              f"{image1.shape[-1]}x{image1.shape[-2]}; pad the images (cnnkit flow does)")

    def _output(self, flows: list[Tensor], size: tuple[int, int]) -> list[Tensor] | Tensor:
        if self.training:
            return flows
        return F.interpolate(flows[0], size=size, mode="bilinear", align_corners=False) * FLOW_SCALE

    def forward(self, x: Tensor) -> list[Tensor] | Tensor:
        """(N, 2C, H, W): the two images stacked on the channels (the first, then the second)."""
        c = x.shape[1] // 2
        return self.flow(x[:, :c], x[:, c:])


class FlowNetS(_FlowNetBase):
    """FlowNetSimple (Dosovitskiy et al., 2015): both images stacked, one contracting tower."""

    def __init__(self, in_chans: int = 6, width: float = 1.0) -> None:
        super().__init__()
        w = _check_width(width)
        c = {n: _width(n, w) for n in (64, 128, 256, 512, 1024)}
        self.conv1 = _conv(2 * _per_image(in_chans), c[64], 7, 2)
        self.conv2 = _conv(c[64], c[128], 5, 2)
        self.conv3 = nn.Sequential(_conv(c[128], c[256], 5, 2), _conv(c[256], c[256]))
        self.conv4 = nn.Sequential(_conv(c[256], c[512], 3, 2), _conv(c[512], c[512]))
        self.conv5 = nn.Sequential(_conv(c[512], c[512], 3, 2), _conv(c[512], c[512]))
        self.conv6 = nn.Sequential(_conv(c[512], c[1024], 3, 2), _conv(c[1024], c[1024]))
        self.refine = _Refinement((c[1024], c[512], c[512], c[256], c[128]), w)

    def flow(self, image1: Tensor, image2: Tensor) -> list[Tensor] | Tensor:
        self._check(image1, image2)
        c2 = self.conv2(self.conv1(torch.cat([image1, image2], 1)))
        c3 = self.conv3(c2)
        c4 = self.conv4(c3)
        c5 = self.conv5(c4)
        return self._output(self.refine(c2, c3, c4, c5, self.conv6(c5)), image1.shape[-2:])


class FlowNetC(_FlowNetBase):
    """FlowNetCorr (Dosovitskiy et al., 2015): a shared tower per image, correlated at conv3."""

    def __init__(self, in_chans: int = 6, width: float = 1.0, max_displacement: int = 20, stride: int = 2) -> None:
        super().__init__()
        w = _check_width(width)
        c = {n: _width(n, w) for n in (32, 64, 128, 256, 512, 1024)}
        self.conv1 = _conv(_per_image(in_chans), c[64], 7, 2)
        self.conv2 = _conv(c[64], c[128], 5, 2)
        self.conv3 = _conv(c[128], c[256], 5, 2)
        self.correlation = Correlation(max_displacement, stride)
        displacements = (2 * max_displacement // stride + 1) ** 2
        self.redirect = _conv(c[256], c[32], 1)
        self.conv3_1 = _conv(displacements + c[32], c[256])
        self.conv4 = nn.Sequential(_conv(c[256], c[512], 3, 2), _conv(c[512], c[512]))
        self.conv5 = nn.Sequential(_conv(c[512], c[512], 3, 2), _conv(c[512], c[512]))
        self.conv6 = nn.Sequential(_conv(c[512], c[1024], 3, 2), _conv(c[1024], c[1024]))
        self.refine = _Refinement((c[1024], c[512], c[512], c[256], c[128]), w)

    def flow(self, image1: Tensor, image2: Tensor) -> list[Tensor] | Tensor:
        self._check(image1, image2)
        a2 = self.conv2(self.conv1(image1))
        b2 = self.conv2(self.conv1(image2))
        a3, b3 = self.conv3(a2), self.conv3(b2)
        volume = F.leaky_relu(self.correlation(a3, b3), 0.1)
        c3 = self.conv3_1(torch.cat([self.redirect(a3), volume], 1))
        c4 = self.conv4(c3)
        c5 = self.conv5(c4)
        return self._output(self.refine(a2, c3, c4, c5, self.conv6(c5)), image1.shape[-2:])


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """``image`` (N, C, H, W) sampled at x + flow(x) (flow in pixels, (N, 2, H, W)), bilinearly, zero outside."""
    n, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=image.device, dtype=flow.dtype),
                            torch.arange(w, device=image.device, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0] + 0.5) / w * 2 - 1
    gy = (ys + flow[:, 1] + 0.5) / h * 2 - 1
    return F.grid_sample(image, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="zeros",
                         align_corners=False)


class PWCLite(nn.Module):
    """PWC-Net's design (Sun et al., 2018) at a small size: pyramid, warping, cost volume, estimator."""

    finest = 2      # estimators run from the coarsest level down to 1/4 of the input, as in PWC-Net

    def __init__(self, in_chans: int = 6, width: float = 1.0, levels: int = 5, max_displacement: int = 4) -> None:
        super().__init__()
        w = _check_width(width)
        in_chans = _per_image(in_chans)
        if isinstance(levels, bool) or not isinstance(levels, int) or not 3 <= levels <= 6:
            raise ConfigError(f"levels must be an integer in [3, 6], got {levels!r}")
        chans = [_width(c, w) for c in (16, 32, 64, 96, 128, 196)[:levels]]
        self.multiple = 2 ** levels
        pyramid, cin = [], in_chans
        for c in chans:
            pyramid.append(nn.Sequential(_conv(cin, c, 3, 2), _conv(c, c)))
            cin = c
        self.pyramid = nn.ModuleList(pyramid)
        self.correlation = Correlation(max_displacement, 1)
        volume = (2 * max_displacement + 1) ** 2
        est = [_width(c, w) for c in (64, 48, 32)]
        self.estimators = nn.ModuleList(     # one per level from 1/4 (index 0) to the coarsest
            nn.Sequential(_conv(volume + c + 2, est[0]), _conv(est[0], est[1]), _conv(est[1], est[2]),
                          nn.Conv2d(est[2], 2, 3, 1, 1))
            for c in chans[self.finest - 1:])
        quarter, ctx = chans[self.finest - 1], _width(48, w)
        # PWC-Net's context network: dilated convolutions (1, 2, 4) refine the 1/4 flow with a wide view
        self.context = nn.Sequential(
            _conv(quarter + 2, ctx), nn.Conv2d(ctx, ctx, 3, 1, 2, 2), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(ctx, ctx, 3, 1, 4, 4), nn.LeakyReLU(0.1, inplace=True), _conv(ctx, est[2]),
            nn.Conv2d(est[2], 2, 3, 1, 1))
        # RAFT's convex upsampling (Teed & Deng, 2020): each full-resolution flow vector a learnt convex
        # combination of its 3x3 coarse neighbours, so motion edges stay sharp where bilinear blurs them
        self.up = 2 ** self.finest
        self.upsample_mask = nn.Sequential(_conv(quarter + 2, _width(64, w)), nn.Conv2d(_width(64, w), 9 * self.up ** 2, 1))
        if next(self.parameters()).is_meta:
            # a meta-device twin (cnnkit models, summary) has no values to set, and torch's meta normal_
            # is a Python reference kernel whose first call imports torch._dynamo and sympy (~1 s)
            return
        for m in self.modules():   # He et al. (2015) for leaky ReLU: features keep their scale down the pyramid
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        for head in [*self.estimators, self.context]:  # every refinement starts at zero: the first flow is 0
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)

    def units(self, count: int) -> list[float]:
        """Prediction 0 is at full resolution in pixels / 20; prediction k >= 1 in pixels of its level, 4, 8, ..."""
        return [1.0] + [2.0 ** (self.finest + k - 1) for k in range(1, count)]

    def cost_volume(self, features1: Tensor, warped2: Tensor) -> Tensor:
        """The cosine similarity of the first image's features with the warped second's, in float32.

        PWC-Net correlates raw features (/ C); from scratch on a CPU budget that volume starts near
        zero and the estimators learn to ignore it (measured: no progress in 400 steps). Unit feature
        vectors make its peaks stand out from the first step, as the matching they encode does; the
        norm is floored at 0.1 so that near-zero features do not blow the gradient up."""
        a, b = F.normalize(features1.float(), dim=1, eps=0.1), F.normalize(warped2.float(), dim=1, eps=0.1)
        return self.correlation(a, b) * a.shape[1]

    def _convex_upsample(self, flow: Tensor, features: Tensor) -> Tensor:
        """(N, 2, h, w) in 1/4-level units to (N, 2, 4h, 4w) in full-resolution units."""
        n, _, h, w = flow.shape
        s = self.up
        weights = self.upsample_mask(torch.cat([features, flow], 1)).view(n, 1, 9, s, s, h, w).softmax(2)
        # the border replicated, so that a uniform motion stays uniform up to the image's edge
        neighbours = F.unfold(F.pad(flow * s, (1, 1, 1, 1), mode="replicate"), 3).view(n, 2, 9, 1, 1, h, w)
        return (weights * neighbours).sum(2).permute(0, 1, 4, 2, 5, 3).reshape(n, 2, h * s, w * s)

    def flow(self, image1: Tensor, image2: Tensor) -> list[Tensor] | Tensor:
        if image1.shape != image2.shape or image1.dim() != 4:
            raise ConfigError(f"the two images must have one shape (N, C, H, W), got {tuple(image1.shape)} and "
                              f"{tuple(image2.shape)}")
        if image1.shape[-1] % self.multiple or image1.shape[-2] % self.multiple:
            raise ConfigError(f"PWCLite takes sides that are multiples of {self.multiple}, got "
                              f"{image1.shape[-1]}x{image1.shape[-2]}; pad the images (cnnkit flow does)")
        a, b = [image1], [image2]
        for level in self.pyramid:
            a.append(level(a[-1]))
            b.append(level(b[-1]))
        flows: list[Tensor] = []
        flow = None
        for i in range(len(self.pyramid), self.finest - 1, -1):   # coarsest first; flows in this level's pixels / 20
            fa, fb = a[i], b[i]
            if flow is None:
                flow = fa.new_zeros(fa.shape[0], 2, *fa.shape[-2:])
            else:
                flow = F.interpolate(flow, size=fa.shape[-2:], mode="bilinear", align_corners=False) * 2
            warped = warp(fb, flow * FLOW_SCALE)
            volume = self.cost_volume(fa, warped)
            flow = flow + self.estimators[i - self.finest](torch.cat([volume, fa, flow], 1))
            flows.append(flow)
        quarter = a[self.finest]
        flows[-1] = flow = flow + self.context(torch.cat([quarter, flow], 1))
        full = self._convex_upsample(flow, quarter)
        if self.training:
            return [full, *flows[::-1]]                     # full resolution, then 1/4, 1/8, ...
        return full * FLOW_SCALE

    def forward(self, x: Tensor) -> list[Tensor] | Tensor:
        """(N, 2C, H, W): the two images stacked on the channels."""
        c = x.shape[1] // 2
        return self.flow(x[:, :c], x[:, c:])


def multiscale_epe(predictions: list[Tensor], truth: Tensor, valid: Tensor | None = None, *,
                   units: list[float] | None = None) -> Tensor:
    """FlowNet's loss: the sum over scales of weight x mean EPE between a prediction (flow / 20) and
    the true flow (N, 2, H, W) averaged down to its size over the ``valid`` pixels. ``units[k]``: the
    full-resolution pixels per unit of prediction k before the / 20 (FlowNet: 1 at every scale;
    PWC-Net: the level's stride)."""
    units = units or [1.0] * len(predictions)
    mask = valid.to(truth.dtype)[:, None] if valid is not None else torch.ones_like(truth[:, :1])
    total = truth.new_zeros(())
    for prediction, weight, unit in zip(predictions, LOSS_WEIGHTS, units):
        size = prediction.shape[-2:]
        share = F.adaptive_avg_pool2d(mask, size)                      # the valid share of each cell
        target = F.adaptive_avg_pool2d(truth * mask, size) / share.clamp(min=1e-6) / (unit * FLOW_SCALE)
        epe = ((prediction.float() - target).pow(2).sum(1, keepdim=True) + 1e-12).sqrt()
        counted = share > 0.5
        total = total + weight * (epe * counted).sum() / counted.sum().clamp(min=1)
    return total


@register_model(task="flow")
def flownets(in_chans: int = 6, input_size: int = 128, width: float = 0.25) -> FlowNetS:
    """FlowNetSimple (Dosovitskiy et al., 2015); width 0.25 by default (1.0: the published 38.7M)."""
    return FlowNetS(in_chans, width)


@register_model(task="flow")
def flownetc(in_chans: int = 6, input_size: int = 128, width: float = 0.25) -> FlowNetC:
    """FlowNetCorr (Dosovitskiy et al., 2015): shared towers and a correlation at conv3; width 0.25 by default."""
    return FlowNetC(in_chans, width)


@register_model(task="flow")
def pwc_lite(in_chans: int = 6, input_size: int = 128, width: float = 1.0, levels: int = 5) -> PWCLite:
    """PWC-Net's pyramid, warping and cost volume (Sun et al., 2018) at a small size."""
    return PWCLite(in_chans, width, levels)
