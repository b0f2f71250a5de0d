"""Activation maximisation: the input image that excites one unit most (Erhan et al., 2009,
"Visualizing higher-layer features of a deep network").

    x* = argmax_x a_ij(x)   subject to ||x - c|| = rho

A *unit* is a channel of a convolutional layer (its map's mean: the feature wherever it is), one
neuron ``(channel, h, w)`` of that map, an element of a fully connected layer's output, or the
whole layer (``"layer"``: the mean square of every activation, DeepDream's objective). Without
``rho`` the image is kept in [0, 1] only, and the regularisers of ``AscentConfig`` shape it
(Yosinski et al., 2015, arXiv:1506.06579). Every unit is one image of one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Union

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.explain.synthesis.ascent import AscentConfig, Progress, ascend, image_centre, input_shape
from cnnkit.explain.layers import activations

__all__ = ["DEFAULT_MAXIMIZE", "Unit", "layer_energy", "maximize", "start_images", "unit_activation", "unit_count"]

Unit = Union[int, tuple[int, int, int], str]  # channel, (channel, h, w), or "layer"

# Tuned on the Fashion-MNIST LeNet-5: Adam in pixel space, a light blur every 4 steps and a
# small roll keep the images smooth without capping the activation much.
DEFAULT_MAXIMIZE = AscentConfig(steps=200, lr=0.05, jitter=1, blur_every=4, blur_sigma=0.5, tv=0.0, l2=0.0)


def layer_energy(a: Tensor) -> Tensor:
    """The mean square of a layer's activations per example (Mordvintsev et al., 2015); (N,)."""
    return a.pow(2).flatten(1).mean(1)


def _check_units(units: Sequence[Unit], shape: tuple[int, ...], layer: str) -> list[Unit]:
    """Each unit valid for a layer whose output (one example) has ``shape``; clear errors otherwise."""
    checked: list[Unit] = []
    for unit in units:
        if unit == "layer":
            checked.append("layer")
        elif isinstance(unit, int) and not isinstance(unit, bool):
            if not 0 <= unit < shape[0]:
                raise ConfigError(f"unit {unit} is out of range: layer '{layer}' has {shape[0]} "
                                  f"{'channels' if len(shape) == 3 else 'units'} (0 to {shape[0] - 1})")
            checked.append(unit)
        elif isinstance(unit, (tuple, list)) and len(unit) == 3 and all(isinstance(u, int) for u in unit):
            if len(shape) != 3:
                raise ConfigError(f"unit {tuple(unit)} names a position, but layer '{layer}' has no spatial map "
                                  f"(output {tuple(shape)}); give a unit index")
            if not all(0 <= u < s for u, s in zip(unit, shape)):
                raise ConfigError(f"unit {tuple(unit)} is out of range: layer '{layer}' outputs "
                                  f"(channels, height, width) = {tuple(shape)}")
            checked.append(tuple(unit))  # type: ignore[arg-type]
        else:
            raise ConfigError(f"a unit is a channel index, a (channel, h, w) triple or 'layer'; got {unit!r}")
    if not checked:
        raise ConfigError("no unit given; pass at least one channel index")
    return checked


def _scores(a: Tensor, units: Sequence[Unit]) -> Tensor:
    """Unit k's activation in example k of the batch a (N, ...); (N,)."""
    n = a.shape[0]
    rows = torch.arange(n, device=a.device)
    channel = torch.tensor([u if isinstance(u, int) else (u[0] if isinstance(u, tuple) else 0) for u in units],
                           device=a.device)
    means = a.flatten(2).mean(2) if a.dim() > 2 else a.flatten(1)           # (N, C)
    score = means[rows, channel]
    if any(isinstance(u, tuple) for u in units):
        h = torch.tensor([u[1] if isinstance(u, tuple) else 0 for u in units], device=a.device)
        w = torch.tensor([u[2] if isinstance(u, tuple) else 0 for u in units], device=a.device)
        point = torch.tensor([isinstance(u, tuple) for u in units], device=a.device)
        score = torch.where(point, a[rows, channel, h, w], score)
    if "layer" in units:
        whole = torch.tensor([u == "layer" for u in units], device=a.device)
        score = torch.where(whole, layer_energy(a), score)
    return score  # (N,)


@torch.no_grad()
def unit_activation(model: nn.Module, x: Tensor, layer: str, units: Sequence[Unit]) -> Tensor:
    """Unit k's activation (as ``maximize`` scores it) on image k of x, or on every image for one unit; (N,)."""
    if len(units) == 1 and x.shape[0] > 1:
        units = list(units) * x.shape[0]
    if len(units) != x.shape[0]:
        raise ConfigError(f"got {len(units)} units for {x.shape[0]} images; give one unit per image, or one for all")
    a = activations(model, x, [layer])[layer]
    return _scores(a, _check_units(units, tuple(a.shape[1:]), layer))


@torch.no_grad()
def unit_count(model: nn.Module, layer: str, input_size: int | tuple[int, int]) -> int:
    """How many channels (or units, for a flat layer) ``layer`` has: the valid unit indices are 0 to count - 1."""
    shape = input_shape(model, input_size)
    param = next(model.parameters())
    probe = activations(model, torch.full((1, *shape), 0.5, device=param.device, dtype=param.dtype), [layer])[layer]
    return int(probe.shape[1])


def start_images(model: nn.Module, count: int, shape: tuple[int, int, int], *, init: str = "noise", seed: int = 0,
                 noise: float = 0.1,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """Starting points of the ascent: the centre image plus seeded noise (std 0.1), or the centre alone."""
    if init not in ("noise", "centre"):
        raise ConfigError(f"init must be 'noise' or 'centre', got {init!r}")
    like = torch.empty(1, *shape, device=device, dtype=dtype)
    x = image_centre(model, like).expand(count, *shape).clone()             # (N, C, H, W)
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        x += noise * torch.randn(count, *shape, generator=generator, dtype=dtype).to(device)
    return x.clamp(0, 1)


def maximize(
    model: nn.Module,
    layer: str,
    units: Sequence[Unit] | Unit,
    *,
    config: AscentConfig | None = None,
    rho: float | None = None,
    init: str = "noise",
    input_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Tensor:
    """Activation maximisation (Erhan et al., 2009): one image per unit, all in one batch; (N, C, H, W).

    ``rho`` bounds ||x - c|| (c: the model's normalisation mean; = rho with ``config.box`` off, <= rho in the
    [0, 1] box), overriding ``config.norm``.
    ``units`` is a list of units (a single int, (c, h, w) triple or "layer" means one unit).
    ``input_size`` is the image side (or (H, W)); channels come from the model. Every image
    starts from the same seeded noise, so a batch equals its units maximised one by one.
    """
    if isinstance(units, (int, str)) or (isinstance(units, tuple) and len(units) == 3
                                         and all(isinstance(u, int) for u in units)):
        units = [units]  # type: ignore[list-item]
    units = list(units)  # type: ignore[arg-type]
    config = config or DEFAULT_MAXIMIZE
    if rho is not None:
        config = replace(config, norm=rho)
    shape = input_shape(model, input_size)
    param = next(model.parameters())
    with torch.no_grad():
        probe = activations(model, torch.full((1, *shape), 0.5, device=param.device, dtype=param.dtype), [layer])
    checked = _check_units(units, tuple(probe[layer].shape[1:]), layer)
    # one noise image, repeated: image k's start does not depend on which units share its batch
    x0 = start_images(model, 1, shape, init=init, seed=seed, device=param.device, dtype=param.dtype)
    x0 = x0.expand(len(checked), *shape).clone()

    def objective(x: Tensor) -> Tensor:
        return _scores(activations(model, x, [layer])[layer], checked)

    return ascend(model, x0, objective, config, progress=progress)

