"""Image-folder datasets streamed from disk by worker processes (ImageFolder style).

Datasets too large for memory (Caltech-101 at full size, ImageNet) are lists of
``(file, class)`` pairs. Worker processes decode whole batches with Pillow: shorter side
resized to ``image_size``, central square cropped (Krizhevsky et al., 2012, centre crop),
stacked into a uint8 ``(B, 3, S, S)`` tensor. Batches are shuffled by the same index
permutation as ``MemoryDataset``, so the training loop cannot tell the two apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from cnnkit.data.batching import IndexedDataset
from cnnkit.data.images import image_to_tensor, load_image, resize_center_crop
from cnnkit.data.spec import DatasetSpec
from cnnkit.errors import ConfigError, ImageError

__all__ = ["FolderDataset"]


class _BatchDecoder(Dataset):
    """Maps a list of sample indices to one decoded batch; runs inside a worker process."""

    def __init__(self, paths: list[str], labels: Tensor, image_size: int) -> None:
        self.paths = paths
        self.labels = labels
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: Tensor) -> tuple[Tensor, Tensor, str]:
        s = self.image_size
        x = torch.empty((len(index), 3, s, s), dtype=torch.uint8)  # (B, 3, S, S)
        for row, i in enumerate(index.tolist()):
            try:
                image = load_image(self.paths[i], draft_size=s)
            except ImageError as e:
                # An exception raised in a worker comes back as a multi-line traceback;
                # the message travels back as data and is raised in the main process.
                return x[:0], self.labels[:0], str(e)
            x[row] = image_to_tensor(resize_center_crop(image, s))
        return x, self.labels[index], ""


class FolderDataset(IndexedDataset):
    """Image files with class indices, decoded in worker processes into uint8 batches."""

    def __init__(
        self,
        samples: Sequence[tuple[str | os.PathLike[str], int]],
        spec: DatasetSpec,
        *,
        image_size: int,
        num_workers: int = 2,
    ) -> None:
        if image_size < 1:
            raise ConfigError(f"image_size={image_size}; give 1 or more pixels")
        if num_workers < 0:
            raise ConfigError(f"num_workers={num_workers}; give 0 (decode in this process) or more")
        bad = [int(y) for _, y in samples if not 0 <= int(y) < spec.num_classes]
        if bad:
            raise ConfigError(
                f"dataset '{spec.name}': label {bad[0]} outside 0..{spec.num_classes - 1}; "
                f"give one class name per label"
            )
        self.paths = [str(Path(p)) for p, _ in samples]
        self.labels = torch.tensor([int(y) for _, y in samples], dtype=torch.int64)
        self.spec = spec
        self.image_size = image_size
        self.num_workers = num_workers

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"FolderDataset('{self.spec.name}', files={len(self)}, image_size={self.image_size})"

    @property
    def samples(self) -> list[tuple[Path, int]]:
        """The ``(file, class index)`` pairs, in dataset order."""
        return [(Path(p), int(y)) for p, y in zip(self.paths, self.labels.tolist())]

    def load(self, order: Iterator[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
        """``(x uint8 (B, 3, S, S), y int64 (B,))`` per batch of indices, decoded by worker processes."""
        order = list(order)
        loader = DataLoader(
            _BatchDecoder(self.paths, self.labels, self.image_size),
            batch_size=None,  # each item is already a whole batch
            sampler=order,
            num_workers=min(self.num_workers, len(order)),
            prefetch_factor=2 if self.num_workers and order else None,
        )
        for x, y, error in loader:
            if error:
                raise ImageError(error)
            yield x, y
