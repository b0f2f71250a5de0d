"""The loss-landscape grid (Li et al., 2018, arXiv:1712.09913): ``loss_landscape``, ``loss_line``, ``loss_surface``.

The loss of a trained network is evaluated at ``theta + alpha * d1`` (a line, 1D) or
``theta + alpha * d1 + beta * d2`` (a surface, 2D), where ``d1`` and ``d2`` are filter-normalised
Gaussian random directions in weight space (directions.py). BatchNorm's running statistics are
the trained ones, and the network is evaluated in eval mode. The loss is cross-entropy averaged
over a seeded subset of images, accuracy is top-1 on the same subset. Under torchrun the grid
points are split across the ranks with the trainer's torchrun helpers (train/distributed.py).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.atomic import atomic_write_text
from cnnkit.errors import ConfigError, OutputError, RunDirError
from cnnkit.schema import MAX_SEED, shown
from cnnkit.explain.landscape.directions import filter_normalized_direction
from cnnkit.explain.layers import network_of
from cnnkit.modes import device_of, frozen
from cnnkit.progress import Progress

__all__ = [
    "LandscapeConfig",
    "LandscapeResult",
    "loss_landscape",
    "loss_line",
    "loss_surface",
]

_DIRECTIONS = ("Gaussian random directions with filter normalisation (Li et al., 2018): each filter "
               "(output channel or neuron) rescaled to its weights' norm; biases and BatchNorm "
               "parameters get zero (ignore='biasbn'); BatchNorm running statistics kept")



@dataclass(frozen=True, kw_only=True)
class LandscapeConfig:
    """What to evaluate for a loss landscape (Li et al., 2018): grid, data subset, seed."""

    dims: int = 1                        # 1: a line along d1; 2: a surface over d1, d2
    points: int | None = None            # grid points per axis; None: 51 for a line, 21 for a surface
    span: tuple[float, float] = (-1.0, 1.0)  # alpha (and beta) range, in filter-normalised direction units
    subset: int | None = 1000            # images, a seeded random choice; None: all of them
    batch_size: int = 500                # images per forward pass
    seed: int = 0                        # seeds the directions and the subset choice

    def __post_init__(self) -> None:
        if self.dims not in (1, 2):
            raise ConfigError(f"dims must be 1 (a line) or 2 (a surface), got {self.dims!r}")
        if self.points is None:
            object.__setattr__(self, "points", 51 if self.dims == 1 else 21)
        if isinstance(self.points, bool) or not isinstance(self.points, int) or not 2 <= self.points <= 1001:
            raise ConfigError(f"points must be an integer in [2, 1,001] per axis, got {shown(self.points)}")
        try:
            low, high = (float(v) for v in self.span)
        except (TypeError, ValueError):
            raise ConfigError(f"span must be two numbers (low, high), e.g. (-1, 1); got {self.span!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"span must be two finite numbers with low < high, e.g. (-1, 1); got {self.span!r}")
        object.__setattr__(self, "span", (low, high))
        if self.subset is not None and (isinstance(self.subset, bool) or not isinstance(self.subset, int)
                                        or self.subset < 1):
            raise ConfigError(f"subset must be >= 1 image (or None for all), got {self.subset!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 image, got {self.batch_size!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be an integer in [0, {MAX_SEED:,}], got {shown(self.seed)}")

    @property
    def axis(self) -> Tensor:
        """The step sizes along each axis, (points,) float64, evenly spaced from span[0] to span[1].

        Computed as ``low + (high - low) * k / (points - 1)``, so a symmetric span with an odd
        number of points has exactly 0, the trained weights, at its centre.
        """
        low, high = self.span
        steps = torch.arange(self.points, dtype=torch.float64) / (self.points - 1)
        return low + (high - low) * steps

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "span": list(self.span)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LandscapeConfig:
        return cls(**{**values, "span": tuple(values["span"])})


@dataclass(frozen=True)
class LandscapeResult:
    """A loss landscape (Li et al., 2018): loss and accuracy on a grid of steps from the trained weights.

    ``loss[i]`` is the loss at ``alphas[i]`` for a line; ``loss[i, j]`` the loss at
    ``(alphas[i], betas[j])`` for a surface (``betas`` is None for a line). The trained
    weights sit at alpha = beta = 0.
    """

    alphas: Tensor            # (P,) float64
    betas: Tensor | None      # (P,) float64, or None for a line
    loss: Tensor              # (P,) or (P, P) float64: mean cross-entropy
    accuracy: Tensor          # (P,) or (P, P) float64: top-1 accuracy in [0, 1]
    config: LandscapeConfig
    model: str                # the network's name (its class, or the run's architecture)
    images: int               # images actually evaluated (the subset)
    processes: int = 1        # torchrun processes that shared the grid
    seconds: float = 0.0      # wall time of the evaluation
    directions: str = _DIRECTIONS
    extra: dict[str, Any] = field(default_factory=dict)  # caller's metadata (run path, dataset, ...)

    @property
    def dims(self) -> int:
        return self.config.dims

    def center(self) -> tuple[float, float] | None:
        """(loss, accuracy) at the grid point of the trained weights, None when 0 is not on the grid."""
        hits = (self.alphas == 0).nonzero()
        if len(hits) == 0:
            return None
        i = int(hits[0])
        if self.betas is None:
            return float(self.loss[i]), float(self.accuracy[i])
        return float(self.loss[i, i]), float(self.accuracy[i, i])

    def edge(self) -> float:
        """Mean loss on the border of the grid (the two ends of a line), to set against ``center()``."""
        if self.betas is None:
            return float((self.loss[0] + self.loss[-1]) / 2)
        loss = self.loss
        return float(torch.cat([loss[0, :], loss[-1, :], loss[1:-1, 0], loss[1:-1, -1]]).mean())

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "loss landscape (Li et al., 2018, arXiv:1712.09913)",
            "model": self.model, "images": self.images, "processes": self.processes, "seconds": self.seconds,
            "directions": self.directions, "config": self.config.to_dict(), "extra": self.extra,
            "alphas": self.alphas.tolist(), "betas": None if self.betas is None else self.betas.tolist(),
            "loss": self.loss.tolist(), "accuracy": self.accuracy.tolist(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LandscapeResult:
        def grid(v: Any) -> Tensor:
            return torch.tensor(v, dtype=torch.float64)

        return cls(
            alphas=grid(values["alphas"]), betas=None if values["betas"] is None else grid(values["betas"]),
            loss=grid(values["loss"]), accuracy=grid(values["accuracy"]),
            config=LandscapeConfig.from_dict(values["config"]), model=values["model"], images=values["images"],
            processes=values["processes"], seconds=values["seconds"], directions=values["directions"],
            extra=values.get("extra", {}),
        )

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON (floats round-trip exactly), atomically."""
        try:
            return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror or err}; choose another --out") from None

    @classmethod
    def load(cls, path: str | Path) -> LandscapeResult:
        """Read a result written by ``save``."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise RunDirError(f"{path} is not a loss-landscape JSON written by cnnkit ({err})") from None


def loss_landscape(
    model: nn.Module,
    data: Any,
    config: LandscapeConfig,
    *,
    progress: Progress | None = None,
) -> LandscapeResult:
    """Loss and accuracy on a 1D or 2D grid around the trained weights (Li et al., 2018).

    ``data`` is an ``(x, y)`` pair (x: (N, C, H, W) uint8, or floats in [0, 1]; y: (N,) class
    indices) or a dataset with ``.images`` (uint8) and ``.labels``, such as ``MemoryDataset``.
    ``progress(done, total)`` is called after each grid point this process evaluates. The
    caller's model is left bitwise as it was (weights, buffers, mode, ``requires_grad``).
    """
    x, y = _subset(data, config, _device_of(model))
    params = list(model.parameters())
    generator = torch.Generator().manual_seed(config.seed)
    axis = config.axis
    from cnnkit.train.distributed import Distributed  # the trainer's torchrun helpers, imported when used

    ranks = Distributed.current()  # rank r of W evaluates points r, r + W, ...; every rank gets the whole grid
    grid = axis.numel() ** config.dims
    mine = range(ranks.rank, grid, ranks.world)
    started = time.perf_counter()
    local: list[tuple[int, float, float]] = []
    with frozen(model), torch.no_grad():
        theta = [p.detach().clone() for p in params]
        d1 = filter_normalized_direction(model, generator=generator)
        d2 = filter_normalized_direction(model, generator=generator) if config.dims == 2 else None
        try:
            for done, k in enumerate(mine, start=1):
                i, j = divmod(k, axis.numel()) if config.dims == 2 else (k, 0)
                torch._foreach_copy_(params, theta)
                torch._foreach_add_(params, d1, alpha=float(axis[i]))
                if d2 is not None:
                    torch._foreach_add_(params, d2, alpha=float(axis[j]))
                loss, accuracy = _evaluate(model, x, y, config.batch_size)
                local.append((k, loss, accuracy))
                if progress is not None:
                    progress(done, len(mine))
        finally:
            torch._foreach_copy_(params, theta)  # exact: the trained weights, bit for bit
    points = [point for part in ranks.gather(local) for point in part]
    seconds = max(ranks.gather(time.perf_counter() - started))
    loss = torch.full((grid,), math.nan, dtype=torch.float64)
    accuracy = torch.full((grid,), math.nan, dtype=torch.float64)
    for k, value, acc in points:
        loss[k], accuracy[k] = value, acc
    shape = (axis.numel(),) * config.dims
    return LandscapeResult(
        alphas=axis, betas=axis.clone() if config.dims == 2 else None, loss=loss.view(shape),
        accuracy=accuracy.view(shape), config=config, model=type(network_of(model)).__name__,
        images=int(y.numel()), processes=ranks.world, seconds=seconds,
    )


def loss_line(
    model: nn.Module,
    data: Any,
    *,
    points: int = 51,
    span: Sequence[float] = (-1.0, 1.0),
    subset: int | None = 1000,
    batch_size: int = 500,
    seed: int = 0,
    progress: Progress | None = None,
) -> LandscapeResult:
    """1D loss landscape: loss and accuracy at ``theta + alpha * d`` (Li et al., 2018); (points,) grids."""
    config = LandscapeConfig(dims=1, points=points, span=tuple(span), subset=subset, batch_size=batch_size, seed=seed)
    return loss_landscape(model, data, config, progress=progress)


def loss_surface(
    model: nn.Module,
    data: Any,
    *,
    points: int = 21,
    span: Sequence[float] = (-1.0, 1.0),
    subset: int | None = 1000,
    batch_size: int = 500,
    seed: int = 0,
    progress: Progress | None = None,
) -> LandscapeResult:
    """2D loss landscape at ``theta + alpha * d1 + beta * d2`` (Li et al., 2018); (points, points) grids."""
    config = LandscapeConfig(dims=2, points=points, span=tuple(span), subset=subset, batch_size=batch_size, seed=seed)
    return loss_landscape(model, data, config, progress=progress)


def _device_of(model: nn.Module) -> torch.device:
    if next(model.parameters(), None) is None:
        raise ConfigError("the model has no parameters, so it has no loss landscape")
    return device_of(model)


def _subset(data: Any, config: LandscapeConfig, device: torch.device) -> tuple[Tensor, Tensor]:
    """The evaluated images (uint8 or float, on ``device``) and labels: a seeded choice of ``subset``.

    The choice is ``sample_images``'s (the first ``subset`` of a seeded permutation), so the CLI
    picks the same images from a folder dataset as from one in memory.
    """
    if hasattr(data, "images") and hasattr(data, "labels"):
        x, y = data.images, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise ConfigError("data must be an (x, y) pair of tensors or a dataset with .images and .labels "
                          "(cnnkit.data.load_dataset returns one)")
    if not isinstance(x, Tensor) or x.dim() != 4 or not isinstance(y, Tensor) or y.shape != x.shape[:1]:
        raise ConfigError("data must hold images (N, C, H, W) and labels (N,) as tensors, "
                          f"got {getattr(x, 'shape', type(x))} and {getattr(y, 'shape', type(y))}")
    if x.dtype != torch.uint8:
        if not x.is_floating_point():
            raise ConfigError(f"images must be uint8 or floats in [0, 1], got {x.dtype}")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ConfigError("images hold values outside [0, 1]; give pixels in [0, 1]: the model normalises itself")
    if len(y) == 0:
        raise ConfigError("data holds no images")
    if config.subset is not None:
        chosen = torch.randperm(len(y), generator=torch.Generator().manual_seed(config.seed))[: config.subset]
        x, y = x[chosen.to(x.device)], y[chosen.to(y.device)]
    return x.to(device), y.to(device=device, dtype=torch.long)


def _evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and top-1 accuracy over (x, y), batch by batch; uint8 is converted per batch."""
    from cnnkit.runs.evaluation import for_each_batch

    total = torch.zeros((), dtype=torch.float64, device=y.device)
    correct = torch.zeros((), dtype=torch.long, device=y.device)

    def add(_images: Tensor, labels: Tensor, logits: Tensor) -> None:
        nonlocal total, correct
        # per-image losses summed in float64, so the batch size does not change the sum's rounding
        total += F.cross_entropy(logits.float(), labels, reduction="none").double().sum()
        correct += (logits.argmax(dim=1) == labels).sum()

    batches = ((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size))
    for_each_batch(model, batches, add)
    n = len(y)
    return float(total) / n, float(correct) / n


