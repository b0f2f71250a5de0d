"""The geometry of perturbations under the L-inf and L2 norms: measure, normalise a step,
project onto the eps-ball, draw a random start. Attacks call these instead of branching on
the norm themselves (Madry et al., 2018, arXiv:1706.06083, section 2)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["NORMS", "check_eps", "lp_norms", "normalize_step", "project", "random_start"]

NORMS = ("inf", "2")
_TINY = 1e-12


def check_norm(norm: str) -> None:
    """Refuse a norm other than 'inf' or '2'."""
    if norm not in NORMS:
        raise ConfigError(f"norm must be 'inf' or '2', got {norm!r}")


def check_eps(eps: float, norm: str, *, name: str = "eps") -> None:
    """Refuse an eps that is negative, not finite, or beyond the whole [0, 1] box for L-inf."""
    check_norm(norm)
    if not math.isfinite(eps) or eps < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {eps}")
    if norm == "inf" and eps > 1:
        raise ConfigError(f"{name}={eps} is beyond the pixel range: L-inf {name} must be in [0, 1] (8/255 = 0.031 is usual)")


def lp_norms(delta: Tensor) -> tuple[Tensor, Tensor]:
    """Per-example L2 and L-inf norms of a perturbation (N, ...) -> (N,), (N,)."""
    flat = delta.flatten(1)
    return flat.norm(p=2, dim=1), flat.abs().amax(dim=1)


def _per_example(values: Tensor, like: Tensor) -> Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def normalize_step(grad: Tensor, norm: str) -> Tensor:
    """The steepest-ascent direction of unit norm: sign(g) for L-inf, g / ||g||_2 for L2."""
    if norm == "inf":
        return grad.sign()
    return grad / _per_example(grad.flatten(1).norm(p=2, dim=1).clamp_min(_TINY), grad)


def project(delta: Tensor, eps: float | Tensor, norm: str) -> Tensor:
    """The nearest point of the eps-ball: clamp for L-inf, rescale onto the sphere for L2."""
    if norm == "inf":
        eps_t = torch.as_tensor(eps, dtype=delta.dtype, device=delta.device)
        if eps_t.dim():
            eps_t = _per_example(eps_t, delta)
        return torch.maximum(torch.minimum(delta, eps_t), -eps_t)
    eps_t = torch.as_tensor(eps, dtype=delta.dtype, device=delta.device)
    norms = delta.flatten(1).norm(p=2, dim=1)
    factor = (eps_t / norms.clamp_min(_TINY)).clamp(max=1.0)
    return delta * _per_example(factor, delta)


def random_start(like: Tensor, eps: float, norm: str, generator: torch.Generator | None) -> Tensor:
    """A uniform draw from the eps-ball: the cube for L-inf, the L2 ball (radius ~ U^(1/d))."""
    if norm == "inf":
        u = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
        return (2 * u - 1) * eps
    direction = torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    direction = normalize_step(direction, "2")
    d = like[0].numel()
    radius = torch.rand(like.shape[0], generator=generator, device=like.device, dtype=like.dtype) ** (1 / d)
    return direction * _per_example(radius * eps, like)
