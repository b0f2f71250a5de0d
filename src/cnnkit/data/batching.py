"""Mini-batches as slices of one index permutation (lecture: stochastic gradient descent).

Each epoch draws one permutation with ``torch.randperm`` from the caller's generator and
cuts it into batches, so in-memory and streamed datasets shuffle identically and a run
is repeatable from its seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["batch_indices", "num_batches"]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of mini-batches in one epoch of ``n`` items."""
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}; give 1 or more")
    return n // batch_size if drop_last else -(-n // batch_size)


def batch_indices(
    n: int,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[Tensor]:
    """Yield int64 index tensors of one epoch: a seeded permutation (or 0..n-1) cut into batches."""
    count = num_batches(n, batch_size, drop_last)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for b in range(count):
        yield order[b * batch_size : (b + 1) * batch_size]
