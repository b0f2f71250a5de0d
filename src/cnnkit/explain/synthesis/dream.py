"""DeepDream: amplify what a layer (or a class) already sees in a photo (Mordvintsev, Olah &
Tyka, 2015, "Inceptionism: going deeper into neural networks", Google Research blog).

Gradient ascent on the photo itself, on the mean square of a layer's activations (or on a class
logit), with three tricks of the original: *octaves* (start on a small copy of the photo and go
up by ``octave_scale``, carrying the detail found so far, so patterns appear at several
scales), a random *jitter* (roll) per step, and *normalised steps* x += lr * g / mean|g|, so one
learning rate fits every layer. Each octave is one call of the shared loop (synthesis/ascent.py).

A layer objective runs the network only up to that layer, so convolutional layers take a photo
of any size. A class objective needs the whole network: when the photo is not the model's input
size, it is resized to that size inside the objective (differentiably), and the gradient comes
back at the photo's own size.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.explain.synthesis.ascent import AscentConfig, Progress, ascend
from cnnkit.explain.layers import activations
from cnnkit.explain.synthesis.maximization import layer_energy

__all__ = ["deepdream"]


def deepdream(
    model: nn.Module,
    x: Tensor,
    *,
    layer: str | None = None,
    target: int | None = None,
    input_size: int | None = None,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps_per_octave: int = 10,
    jitter: int = 2,
    lr: float = 0.01,
    seed: int = 0,
    progress: Progress | None = None,
) -> Tensor:
    """DeepDream (Mordvintsev et al., 2015) of photos x (N, C, H, W) in [0, 1], any size; returns (N, C, H, W).

    Give ``layer`` (amplify its activations) or ``target`` (a class index; then ``input_size``,
    the model's image side, says what size the whole network takes). ``progress(done, total)`` counts
    the steps of every octave, ``total = octaves * steps_per_octave``.
    """
    if (layer is None) == (target is None):
        raise ConfigError("give exactly one of layer (amplify a layer) or target (amplify a class)")
    if x.dim() != 4:
        raise ConfigError(f"x must be a (N, C, H, W) batch of photos, got shape {tuple(x.shape)}")
    if isinstance(octaves, bool) or not isinstance(octaves, int) or not 1 <= octaves <= 20:
        raise ConfigError(f"octaves must be an integer in [1, 20], got {octaves!r}")
    if not octave_scale > 1:
        raise ConfigError(f"octave_scale must be > 1 (each octave this much larger), got {octave_scale!r}")
    config = AscentConfig(steps=steps_per_octave, lr=lr, optimizer="sgd", normalize_grad=True, jitter=jitter,
                          box=True, seed=seed)

    if layer is not None:
        native = input_size if input_size is not None else getattr(model, "input_size", None)
        takes: dict[tuple[int, ...], bool] = {}

        def objective(xs: Tensor) -> Tensor:
            # Convolutional layers take any size; a network built for one size (CoAtNet's position
            # tables) gets each octave resized to that size inside the objective instead.
            if native is not None and not _takes(model, layer, xs, takes):
                xs = F.interpolate(xs, size=(native, native), mode="bilinear", align_corners=False, antialias=True)
            return layer_energy(activations(model, xs, [layer])[layer])
    else:
        param = next(model.parameters())
        input_size = input_size if input_size is not None else getattr(model, "input_size", None)
        if input_size is None:
            raise ConfigError("a class target needs input_size, the image side the model's classifier takes")
        with torch.no_grad():
            probe = model(torch.full((1, x.shape[1], input_size, input_size), 0.5, device=param.device,
                                     dtype=param.dtype))
        if not 0 <= target < probe.shape[1]:  # type: ignore[operator]
            raise ConfigError(f"class {target} is out of range: the model has {probe.shape[1]} classes "
                              f"(0 to {probe.shape[1] - 1})")

        def objective(xs: Tensor) -> Tensor:
            if xs.shape[-2:] != (input_size, input_size):
                xs = F.interpolate(xs, size=(input_size, input_size), mode="bilinear", align_corners=False,
                                   antialias=True)
            return model(xs)[:, target]  # (N,)

    size = x.shape[-2:]
    shapes = [tuple(max(1, round(s / octave_scale ** k)) for s in size) for k in range(octaves - 1, -1, -1)]
    detail = torch.zeros_like(x[..., :1, :1]).expand(x.shape[0], x.shape[1], *shapes[0])
    out = x
    for k, shape in enumerate(shapes):
        base = x if shape == tuple(size) else F.interpolate(x, size=shape, mode="bilinear", align_corners=False,
                                                            antialias=True)
        detail = F.interpolate(detail, size=shape, mode="bilinear", align_corners=False)
        start = (base + detail).clamp(0, 1)
        step_of = None if progress is None else (
            lambda done, _, k=k: progress(k * steps_per_octave + done, octaves * steps_per_octave))
        out = ascend(model, start, objective, replace(config, seed=seed + k), progress=step_of)
        detail = out - base  # what this octave added, carried to the next
    return out


def _takes(model: nn.Module, layer: str, xs: Tensor, seen: dict[tuple[int, ...], bool]) -> bool:
    """Whether the network runs up to ``layer`` on images of xs's size (tried once per size)."""
    shape = tuple(xs.shape[1:])
    if shape not in seen:
        try:
            with torch.no_grad():
                activations(model, xs[:1].detach(), [layer])
            seen[shape] = True
        except (ConfigError, RuntimeError):
            seen[shape] = False
    return seen[shape]
