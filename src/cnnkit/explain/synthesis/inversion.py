"""Inverting a representation: the image whose features at a layer match a given image's
(Mahendran & Vedaldi, 2015, "Understanding deep image representations by inverting them",
arXiv:1412.0035).

    x* = argmin_x' ||f(x') - f(x)||^2 / ||f(x)||^2 + lambda ||x' - c||^2 + mu TV_beta(x')

Reconstructions from shallow layers give back the image almost exactly; deeper layers keep
what the network needs (shape, layout) and lose the rest. ``invert_layers`` reconstructs from
several layers at once: the L x N reconstructions are one batch of the shared ascent loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.explain.synthesis.ascent import AscentConfig, Progress, ascend, image_centre
from cnnkit.explain.layers import activations

__all__ = ["DEFAULT_INVERT", "correlation", "invert", "invert_layers"]

# Adam from mid-grey noise; a small TV_2 weight removes the checkerboard that strided layers
# leave, as in Mahendran & Vedaldi's figures.
DEFAULT_INVERT = AscentConfig(steps=200, lr=0.05, tv=0.005, tv_beta=2.0, l2=0.0)


def invert_layers(
    model: nn.Module,
    x: Tensor,
    layers: Sequence[str],
    *,
    config: AscentConfig | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Tensor:
    """Mahendran & Vedaldi (2015) inversions of x (N, C, H, W) from each layer, in one batch; (L, N, C, H, W)."""
    if x.dim() != 4:
        raise ConfigError(f"x must be a (N, C, H, W) batch of images, got shape {tuple(x.shape)}")
    layers = list(dict.fromkeys(layers))
    if not layers:
        raise ConfigError("no layer given; name at least one layer to invert")
    config = config or DEFAULT_INVERT
    n = x.shape[0]
    with torch.no_grad():
        targets = activations(model, x, layers)
    # (L*N, ...) per layer: row l*N + k of the batch reconstructs image k from layer l
    goal = {name: targets[name].detach() for name in layers}
    scale = {name: goal[name].pow(2).flatten(1).sum(1).clamp_min(1e-12) for name in layers}  # (N,)
    generator = torch.Generator().manual_seed(seed)
    centre = image_centre(model, x)
    noise = 0.1 * torch.randn(x.shape[1:], generator=generator, dtype=x.dtype).to(x.device)
    x0 = (centre + noise).clamp(0, 1).expand(len(layers) * n, *x.shape[1:]).clone()  # (L*N, C, H, W)

    def objective(xs: Tensor) -> Tensor:
        found = activations(model, xs, layers)
        losses = []
        for l, name in enumerate(layers):
            f = found[name][l * n:(l + 1) * n]
            losses.append((f - goal[name]).pow(2).flatten(1).sum(1) / scale[name])
        return -torch.cat(losses)  # (L*N,) to maximise

    out = ascend(model, x0, objective, config, centre=centre, progress=progress)
    return out.view(len(layers), n, *x.shape[1:])


def invert(model: nn.Module, x: Tensor, layer: str, *, config: AscentConfig | None = None, seed: int = 0) -> Tensor:
    """Image reconstructed from its representation at ``layer`` (Mahendran & Vedaldi, 2015); (N, C, H, W)."""
    return invert_layers(model, x, [layer], config=config, seed=seed)[0]


def correlation(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation between each pair of images a[k], b[k] over their pixels; (N,)."""
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)
