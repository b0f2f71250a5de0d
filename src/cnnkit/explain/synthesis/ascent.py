"""The one gradient-ascent loop behind every synthesised image: activation maximisation, inversion,
class models and DeepDream differ only in their objective and in which regularisers they use.

    x* = argmax_x  S(x) - l2 ||x - c||^2 - tv TV_beta(x)     (optionally with ||x - c|| = rho)

S is the method's per-example score, c the image centre (the model's normalisation mean, the
pixel space image that the network sees as zero). Regularisers come in two kinds, each a small
function here: *penalties* added to the objective (``l2_penalty``, ``total_variation``) and
*transforms* applied to x (``jitter`` before each forward pass, ``gaussian_blur``,
``project_norm`` and the [0, 1] box after a step). ``AscentConfig`` switches them on.

Every example in the batch is optimised independently (the objective is a sum over examples,
Adam and SGD work per element, jitter draws one shift per step for the whole batch), so a
batch of N images costs one forward and backward pass per step and gives what N separate
calls with the same seed would give.

Papers: Erhan et al., 2009 (activation maximisation, the ||x|| = rho constraint); Simonyan et
al., 2013 (arXiv:1312.6034, L2-regularised class models); Mahendran & Vedaldi, 2015
(arXiv:1412.0035, TV_beta regulariser); Yosinski et al., 2015 (arXiv:1506.06579, blur every
k steps); Mordvintsev et al., 2015 (DeepDream: jitter, step = lr * g / mean|g|).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.schema import MAX_SEED, shown
from cnnkit.layers.normalize import Normalize
from cnnkit.modes import frozen
from cnnkit.progress import Progress

__all__ = [
    "AscentConfig",
    "ascend",
    "gaussian_blur",
    "image_centre",
    "input_shape",
    "jitter",
    "l2_penalty",
    "project_norm",
    "total_variation",
]

Objective = Callable[[Tensor], Tensor]  # x (N, C, H, W) -> score (N,) to maximise


MAX_STEPS = 100_000  # gradient steps: papers use hundreds to a few thousand


@dataclass(frozen=True, kw_only=True)
class AscentConfig:
    """Gradient ascent on the input image with the lecture's regularisers (Erhan et al., 2009)."""

    steps: int = 200                # optimiser steps
    lr: float = 0.05                # pixels per step (Adam's step size; SGD's multiplier of the gradient)
    optimizer: str = "adam"         # 'adam' or 'sgd'
    l2: float = 0.0                 # weight of ||x - c||^2 (pixels^2, summed over the image)
    tv: float = 0.0                 # weight of TV_beta(x) (summed over the image)
    tv_beta: float = 2.0            # exponent beta of the total variation (Mahendran & Vedaldi: 1 to 2)
    jitter: int = 0                 # pixels: the largest random roll of x before each forward pass
    blur_every: int = 0             # steps between Gaussian blurs of x (0: never)
    blur_sigma: float = 0.5         # pixels: standard deviation of that blur
    norm: float | None = None       # rho (L2, pixel units): ||x - c|| = rho per example, <= rho with box; None: free
    box: bool = True                # keep x in [0, 1] after every step
    normalize_grad: bool = False    # step along g / mean|g| per example (DeepDream) instead of g
    seed: int = 0                   # jitter's shifts

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 0 <= self.steps <= MAX_STEPS:
            raise ConfigError(f"steps must be an integer in [0, {MAX_STEPS:,}], got {shown(self.steps)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be an integer in [0, {MAX_SEED:,}], got {shown(self.seed)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive step size, got {self.lr!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        for name in ("l2", "tv"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} is a penalty weight and must be >= 0, got {value!r}")
        if not (math.isfinite(self.tv_beta) and self.tv_beta >= 1):
            raise ConfigError(f"tv_beta must be >= 1 (Mahendran & Vedaldi use 1 to 2), got {self.tv_beta!r}")
        if not isinstance(self.jitter, int) or self.jitter < 0:
            raise ConfigError(f"jitter is a number of pixels >= 0, got {self.jitter!r}")
        if not isinstance(self.blur_every, int) or self.blur_every < 0:
            raise ConfigError(f"blur_every is a number of steps >= 0 (0: no blur), got {self.blur_every!r}")
        if not (math.isfinite(self.blur_sigma) and self.blur_sigma > 0):
            raise ConfigError(f"blur_sigma must be > 0 pixels, got {self.blur_sigma!r}")
        if self.norm is not None and not (math.isfinite(self.norm) and self.norm > 0):
            raise ConfigError(f"norm (rho) must be > 0 or None, got {self.norm!r}")


# ---- penalties: terms subtracted from the score, each (N,) ---------------------------------

def l2_penalty(x: Tensor, centre: Tensor | float = 0.0) -> Tensor:
    """||x - c||^2 per example, the L2 regulariser of class models (Simonyan et al., 2013)."""
    return (x - centre).pow(2).flatten(1).sum(1)  # (N,)


def total_variation(x: Tensor, beta: float = 2.0) -> Tensor:
    """TV_beta(x) = sum_ij ((x_i,j+1 - x_ij)^2 + (x_i+1,j - x_ij)^2)^(beta/2) per example (Mahendran & Vedaldi, 2015)."""
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]  # (N, C, H-1, W-1)
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    d2 = dx.pow(2) + dy.pow(2)
    # beta < 2 has an infinite gradient at d = 0; the small floor keeps it finite
    tv = d2 if beta == 2 else (d2 + 1e-8).pow(beta / 2)
    return tv.flatten(1).sum(1)  # (N,)


# ---- transforms of x ---------------------------------------------------------------------

def jitter(x: Tensor, pixels: int, generator: torch.Generator) -> Tensor:
    """x rolled by one random shift in [-pixels, pixels]^2 (Mordvintsev et al., 2015); differentiable."""
    if pixels == 0:
        return x
    dy, dx = torch.randint(-pixels, pixels + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _mirror_index(size: int, radius: int, device: torch.device) -> Tensor:
    """Indices of a row padded by ``radius`` on both sides, mirrored about the edge pixels (d c b | a b c d | c b a)."""
    i = torch.arange(-radius, size + radius, device=device)
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = i.remainder(period)
    return torch.where(i >= size, period - i, i)


def gaussian_blur(x: Tensor, sigma: float, *, truncate: float = 4.0) -> Tensor:
    """Separable Gaussian blur of each channel, mirrored borders (Yosinski et al., 2015's regulariser)."""
    radius = int(truncate * sigma + 0.5)
    if radius == 0:
        return x
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()                                  # (2r+1,)
    n, c, h, w = x.shape
    rows = x[..., _mirror_index(h, radius, x.device), :]            # (N, C, H+2r, W)
    y = F.conv2d(rows.reshape(n * c, 1, h + 2 * radius, w), kernel.view(1, 1, -1, 1))
    cols = y[..., _mirror_index(w, radius, x.device)]               # (N*C, 1, H, W+2r)
    return F.conv2d(cols, kernel.view(1, 1, 1, -1)).reshape(n, c, h, w)


def project_norm(x: Tensor, rho: float, centre: Tensor | float = 0.0, *, box: bool = False) -> Tensor:
    """x moved radially onto ||x - c|| = rho per example (Erhan et al., 2009's constraint); with ``box``, onto
    the ball ||x - c|| <= rho inside [0, 1].

    Without the box this is the projection onto the sphere. With it, the sphere would leave no room
    to move: an image of large norm has most pixels at 0 or 1, and rescaling it back onto the sphere
    after every step undoes the step. So x - c is scaled down when longer than rho, then clipped to
    the box (clipping only shortens it): the image uses at most the energy rho.
    """
    d = x - centre
    length = d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))  # (N, 1, 1, 1)
    if not box:
        return centre + d * (rho / length)
    return (centre + d * (rho / length).clamp(max=1.0)).clamp(0, 1)


def image_centre(model: nn.Module, like: Tensor) -> Tensor:
    """The pixel image the network sees as zero: its Normalize layer's mean, else mid-grey 0.5; (1, C, 1, 1)."""
    for module in model.modules():
        if isinstance(module, Normalize):
            mean = module.mean.to(device=like.device, dtype=like.dtype)
            return mean.expand(1, like.shape[1], 1, 1).clone()
    return torch.full((1, like.shape[1], 1, 1), 0.5, device=like.device, dtype=like.dtype)


def input_shape(model: nn.Module, input_size: int | tuple[int, int] | None) -> tuple[int, int, int]:
    """(C, H, W) of a synthesised image: channels from the Normalize layer or first convolution; the size
    given, else the ``input_size`` a loaded run's model carries (cnnkit.runs.load_run sets it)."""
    if input_size is None:
        input_size = getattr(model, "input_size", None)
    if input_size is None:
        raise ConfigError("pass input_size (the model's image side, e.g. run.info.input_size)")
    chans = next((int(m.mean.shape[1]) for m in model.modules() if isinstance(m, Normalize)), None)
    if chans is None:
        conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        chans = conv.in_channels if conv is not None else 1
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    if h < 1 or w < 1:
        raise ConfigError(f"input_size must be positive pixels, got {input_size!r}")
    return chans, int(h), int(w)


# ---- the loop ---------------------------------------------------------------------------

def ascend(
    model: nn.Module,
    x0: Tensor,
    objective: Objective,
    config: AscentConfig,
    *,
    centre: Tensor | float | None = None,
    progress: Progress | None = None,
) -> Tensor:
    """Maximise objective(x) - penalties over the batch x0 (N, C, H, W) by gradient ascent (Erhan et al., 2009).

    ``objective`` takes the (jittered) batch and returns one score per example, (N,); it runs
    the model itself, so it may stop at a layer (``cnnkit.explain.layers.activations``).
    ``centre`` is c of ``||x - c||`` (default: ``image_centre(model, x0)``). ``progress(done, total)``
    is called after each step, ``total`` being ``config.steps``. The model is used frozen (eval mode,
    no parameter gradients) and left as the caller had it. Returns x (N, C, H, W).
    """
    if x0.dim() != 4:
        raise ConfigError(f"the starting images must be a (N, C, H, W) batch, got shape {tuple(x0.shape)}")
    c = image_centre(model, x0) if centre is None else centre
    generator = torch.Generator().manual_seed(config.seed)
    x = x0.detach().clone()
    if config.norm is not None:
        x = project_norm(x, config.norm, c, box=config.box)
    elif config.box:
        x = x.clamp(0, 1)
    x.requires_grad_(True)
    optimizer: torch.optim.Optimizer = (
        torch.optim.Adam([x], lr=config.lr) if config.optimizer == "adam" else torch.optim.SGD([x], lr=config.lr)
    )
    with frozen(model), torch.enable_grad():
        for step in range(1, config.steps + 1):
            score = objective(jitter(x, config.jitter, generator))  # (N,)
            if score.shape != (x.shape[0],):
                raise ConfigError(f"the objective must return one score per image, shape ({x.shape[0]},); "
                                  f"got {tuple(score.shape)}")
            total = score
            if config.l2:
                total = total - config.l2 * l2_penalty(x, c)
            if config.tv:
                total = total - config.tv * total_variation(x, config.tv_beta)
            optimizer.zero_grad(set_to_none=True)
            (-total.sum()).backward()
            if config.normalize_grad:
                scale = x.grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
                x.grad.div_(scale)
            optimizer.step()
            with torch.no_grad():
                if config.blur_every and step % config.blur_every == 0:
                    x.copy_(gaussian_blur(x, config.blur_sigma))
                if config.norm is not None:
                    x.copy_(project_norm(x, config.norm, c, box=config.box))
                elif config.box:
                    x.clamp_(0, 1)
            if progress is not None:
                progress(step, config.steps)
    return x.detach()
