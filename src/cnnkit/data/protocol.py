"""The Dataset protocol: what the trainer takes (DESIGN.md's flow: source -> Dataset -> fit).

A dataset is an epoch's worth of batches, drawn in an order a seeded generator decides, that a
resumed epoch can re-enter at any step and that torchrun ranks can split. What one batch holds
is the Task's business (images and labels for classification; image pairs, boxes or voxels for
the applications): the trainer only counts, orders and hands them on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["Dataset"]


@runtime_checkable
class Dataset(Protocol):
    """``len(dataset)`` items, served as ``batches``; MemoryDataset and FolderDataset implement it."""

    def __len__(self) -> int: ...

    def num_batches(self, batch_size: int, drop_last: bool = False, *, world: int = 1) -> int:
        """Mini-batches in one epoch, of ``world`` processes together."""
        ...

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start: int = 0,
        shard: tuple[int, int] = (0, 1),
    ) -> Iterator[Any]:
        """One epoch of batches: ``shuffle`` draws the order from ``generator``, ``start`` skips the
        first batches (a resumed epoch), ``shard=(rank, world)`` keeps this process's share of each."""
        ...
