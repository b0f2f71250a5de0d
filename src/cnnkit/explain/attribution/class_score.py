"""The class score every attribution method explains, and its gradient with respect to the input.

Simonyan et al. (2013, arXiv:1312.6034) explain the unnormalised class score S_c (the logit),
not the softmax probability, which also depends on every other class's score. ``target`` means
the same in every method of ``cnnkit.explain``: an int (one class for the whole batch), an (N,)
integer tensor (one class per image) or None (each image's predicted class).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError

__all__ = ["auto_batch_size", "check_batch", "per_image_target", "resolve_target", "score_gradient"]

Target = int | Tensor | None


def check_batch(x: Tensor) -> Tensor:
    """Refuse anything but a float (N, C, H, W) batch of pixels (a single (C, H, W) image is batched)."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        kind = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(f"x must be a float tensor of pixels in [0, 1], got {kind}; divide uint8 images by 255")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] == 0:
        raise ConfigError(f"x must be a non-empty (N, C, H, W) batch of images, got shape {tuple(x.shape)}")
    return x


# Rows per forward/backward chunk when the caller gives none: about 8 MB of input pixels, so
# 28x28 images go ~2,700 at a time and 224x224 RGB ones 13 (their activations dominate memory).
_AUTO_CHUNK_ELEMENTS = 2**21


def auto_batch_size(x: Tensor, batch_size: int | None) -> int:
    """Rows per chunk: ``batch_size`` checked, or None -> as many as ~8 MB of input pixels."""
    if batch_size is None:
        return max(1, _AUTO_CHUNK_ELEMENTS // max(1, x[0].numel()))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an int >= 1 rows (or None: automatic), got {batch_size!r}")
    return batch_size


def _rows(target: int | Tensor, count: int, device: torch.device) -> Tensor:
    """A given target as an (N,) long tensor: type, dtype and shape checked (not the range)."""
    if isinstance(target, bool) or not isinstance(target, (int, Tensor)):
        raise ConfigError(f"target must be a class index, an (N,) tensor of them or None, got {type(target).__name__}")
    if isinstance(target, int):
        return torch.full((count,), target, dtype=torch.long, device=device)
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ConfigError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.dim() == 0:
        target = target.expand(count)
    if tuple(target.shape) != (count,):
        raise ConfigError(f"target has shape {tuple(target.shape)}, but the batch has {count} images; "
                          f"give one class per image, shape ({count},), or a single int")
    return target.to(device=device, dtype=torch.long)


def per_image_target(model: nn.Module, x: Tensor, target: Target) -> Tensor:
    """(N,) classes for images ``x``: None costs one forward pass (the predictions); a given
    target is checked here for shape, and for range once a chunk's logits are known."""
    if target is None:
        with torch.no_grad():
            return model(x).argmax(1)
    return _rows(target, x.shape[0], x.device)


def resolve_target(target: Target, logits: Tensor) -> Tensor:
    """The (N,) class index per image: ``target`` checked against the (N, K) logits (None: predicted)."""
    count, classes = logits.shape
    if target is None:
        return logits.argmax(1)
    rows = _rows(target, count, logits.device)
    if rows.numel() and (rows.min() < 0 or rows.max() >= classes):
        bad = int(rows[(rows < 0) | (rows >= classes)][0])
        raise ConfigError(f"target class {bad} is out of range: the model has {classes} classes (0 to {classes - 1})")
    return rows


def score_gradient(model: nn.Module, x: Tensor, target: Target,
                   weights: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(dS_c/dx, S_c, c) for rows ``x`` (M, C, H, W) and ``target`` classes (Simonyan et al., 2013).

    One forward and one backward pass for all rows: the rows are independent, so the gradient
    of the summed scores is each row's own gradient. ``weights`` (M,) scales each row's score
    before the backward pass (a quadrature weight, say); the returned scores are unweighted.
    Parameters get no gradient: callers run this inside ``frozen(model)``.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)                                           # (M, K)
        if logits.dim() != 2:
            raise ConfigError(f"the model returns shape {tuple(logits.shape)}, not (N, classes) logits; "
                              "attribution methods explain classifiers")
        rows = resolve_target(target, logits.detach())              # (M,)
        scores = logits.gather(1, rows[:, None])[:, 0]              # (M,)
        total = (scores * weights).sum() if weights is not None else scores.sum()
        (grad,) = torch.autograd.grad(total, x)                     # (M, C, H, W)
    return grad, scores.detach(), rows
