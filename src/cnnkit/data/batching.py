"""Mini-batches as slices of one index permutation (lecture: stochastic gradient descent).

Each epoch draws one permutation with ``torch.randperm`` from the caller's generator and
cuts it into batches, so in-memory and streamed datasets shuffle identically and a run
is repeatable from its seed.

Two options serve exact resume and torchrun: ``start`` skips the first batches of the
epoch without loading them (a run resumed mid-epoch draws the same permutation again and
continues where it stopped), and ``shard=(rank, world)`` gives each of ``world`` processes
a disjoint part of every global batch (rank r takes items r, r + world, ...).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from cnnkit.errors import ConfigError

__all__ = ["IndexItems", "IndexedDataset", "batch_indices", "num_batches"]


def num_batches(n: int, batch_size: int, drop_last: bool = False, *, world: int = 1) -> int:
    """Number of mini-batches in one epoch of ``n`` items.

    With ``world`` processes a last batch smaller than ``world`` is dropped, so that no
    process is left with an empty batch.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}; give 1 or more")
    full, rest = divmod(n, batch_size)
    return full + (1 if rest and not drop_last and rest >= world else 0)


def batch_indices(
    n: int,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    start: int = 0,
    shard: tuple[int, int] = (0, 1),
) -> Iterator[Tensor]:
    """Yield int64 index tensors of one epoch: a seeded permutation (or 0..n-1) cut into batches.

    ``start`` skips that many batches; ``shard=(rank, world)`` keeps this process's share.
    """
    rank, world = shard
    if not 0 <= rank < world:
        raise ConfigError(f"shard rank {rank} is outside 0..{world - 1}")
    count = num_batches(n, batch_size, drop_last, world=world)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for b in range(start, count):
        yield order[b * batch_size : (b + 1) * batch_size][rank::world]


class IndexedDataset:
    """The batching every dataset of ``len(self)`` items shares (memory and folder datasets alike):
    ``num_batches`` and ``batches`` of the ``Dataset`` protocol, from ``batch_indices``. A subclass
    says only how a batch of indices becomes tensors, in ``load``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def num_batches(self, batch_size: int, drop_last: bool = False, *, world: int = 1) -> int:
        """Number of mini-batches in one epoch (of ``world`` processes together)."""
        return num_batches(len(self), batch_size, drop_last, world=world)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start: int = 0,
        shard: tuple[int, int] = (0, 1),
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(x uint8, y int64)`` batches for one epoch (lecture: mini-batch SGD)."""
        return self.load(batch_indices(len(self), batch_size, shuffle=shuffle, generator=generator,
                                       drop_last=drop_last, start=start, shard=shard))

    def load(self, order: Iterator[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches of the index tensors in ``order``, lazily."""
        raise NotImplementedError


class IndexItems(IndexedDataset):
    """``count`` items, each batch its tensor of indices: the dataset of a Task whose ``prepare`` makes
    the data itself (generated scenes, rendered from the trainer's generator or looked up by index)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def load(self, order: Iterator[Tensor]) -> Iterator[Tensor]:
        yield from order
