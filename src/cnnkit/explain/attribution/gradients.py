"""Attribution by input gradients: gradient saliency (Simonyan, Vedaldi & Zisserman, 2013,
arXiv:1312.6034) and SmoothGrad, the same gradient averaged over noisy copies of the image
(Smilkov et al., 2017, arXiv:1706.03825).

The class score S_c(x) is, near an image x, roughly linear: S_c(x') ~ w^T x' + b with
w = dS_c/dx. The magnitude of w says which pixels change the score most; the saliency map
keeps, per pixel, the largest magnitude over the colour channels.

Raw gradients fluctuate sharply from pixel to pixel because the score's derivative does.
SmoothGrad averages the gradient over n copies x + N(0, sigma^2), sigma a fraction (10-20 %)
of the image's value range x_max - x_min, which removes most of that noise. The n * N noisy
rows are evaluated in chunks of ``batch_size`` rows, each one forward and one backward pass.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.schema import shown
from cnnkit.explain.attribution.class_score import (
    Target,
    auto_batch_size,
    check_batch,
    per_image_target,
    score_gradient,
)
from cnnkit.modes import frozen

__all__ = ["input_gradient", "saliency", "saliency_map", "smoothgrad", "smoothgrad_gradient"]


MAX_SAMPLES = 10_000  # Smilkov et al. find little change past 50


def input_gradient(model: nn.Module, x: Tensor, target: Target = None) -> Tensor:
    """dS_c/dx, the raw gradient of the class logit with respect to the pixels, (N, C, H, W) (Simonyan et al., 2013)."""
    x = check_batch(x)
    with frozen(model):
        grad, _, _ = score_gradient(model, x, target)
    return grad


def saliency_map(grad: Tensor, *, abs: bool = True) -> Tensor:
    """Per pixel, the channel of largest |gradient|: |value| with ``abs``, else its sign kept, (N, H, W) (Simonyan et al., 2013)."""
    if abs:
        return grad.abs().amax(1)                                    # (N, H, W)
    channel = grad.abs().argmax(1, keepdim=True)                     # (N, 1, H, W)
    return grad.gather(1, channel)[:, 0]                             # (N, H, W)


def saliency(model: nn.Module, x: Tensor, target: Target = None, *, abs: bool = True) -> Tensor:
    """Image-specific class saliency max_c |dS_c/dx| per pixel, (N, H, W) (Simonyan et al., 2013).

    ``x`` is (N, C, H, W) pixels in [0, 1] on the model's device; ``target`` an int, an (N,)
    tensor of classes, or None for each image's predicted class. With ``abs=False`` each
    pixel keeps the sign of its largest-magnitude channel.
    """
    return saliency_map(input_gradient(model, x, target), abs=abs)


def smoothgrad_gradient(
    model: nn.Module,
    x: Tensor,
    target: Target = None,
    *,
    samples: int = 50,
    noise: float = 0.15,
    batch_size: int | None = None,
    seed: int = 0,
    squared: bool = False,
) -> Tensor:
    """Mean of dS_c/dx (or of its square) over ``samples`` noisy copies of each image, (N, C, H, W) (Smilkov et al., 2017).

    Row ``n * samples + s`` of the noisy batch is image n with its s-th noise draw; the noise
    comes from a generator seeded with ``seed`` on the model's device, one draw per chunk.
    """
    x = check_batch(x)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ConfigError(f"samples must be an integer in [1, {MAX_SAMPLES:,}] (50 is usual), got {shown(samples)}")
    if not 0.0 <= float(noise) <= 10.0:
        raise ConfigError(f"noise must be a fraction of the image's value range in [0, 10] (0.1-0.2 is usual), got {noise}")
    batch_size = auto_batch_size(x, batch_size)
    count = x.shape[0]
    with frozen(model):
        classes = per_image_target(model, x, target)                         # (N,)
        span = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).clamp_min(0)   # (N,) x_max - x_min
        sigma = (float(noise) * span).repeat_interleave(samples)            # (N*S,)
        rows_target = classes.repeat_interleave(samples)                    # (N*S,)
        generator = torch.Generator(device=x.device).manual_seed(seed)
        total = torch.zeros_like(x)                                          # (N, C, H, W)
        for start in range(0, count * samples, batch_size):
            stop = min(start + batch_size, count * samples)
            index = torch.arange(start, stop, device=x.device) // samples   # image of each row
            draw = torch.randn((stop - start, *x.shape[1:]), generator=generator, device=x.device, dtype=x.dtype)
            noisy = x[index] + draw * sigma[start:stop, None, None, None]   # (B, C, H, W)
            grad, _, _ = score_gradient(model, noisy, rows_target[start:stop])
            total.index_add_(0, index, grad * grad if squared else grad)
    return total / samples


def smoothgrad(
    model: nn.Module,
    x: Tensor,
    target: Target = None,
    *,
    samples: int = 50,
    noise: float = 0.15,
    batch_size: int | None = None,
    seed: int = 0,
    squared: bool = False,
) -> Tensor:
    """SmoothGrad saliency: max over channels of |mean noisy gradient|, (N, H, W) (Smilkov et al., 2017).

    ``noise`` is sigma as a fraction of each image's range x_max - x_min; ``squared`` averages
    the squared gradient instead (SmoothGrad-Squared, Hooker et al., 2019, arXiv:1806.10758).
    With ``samples=1`` and ``noise=0`` it equals ``saliency``.
    """
    mean = smoothgrad_gradient(model, x, target, samples=samples, noise=noise, batch_size=batch_size,
                               seed=seed, squared=squared)
    return saliency_map(mean)
