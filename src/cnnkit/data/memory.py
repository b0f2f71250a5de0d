"""A whole image dataset held as one uint8 tensor and batched by index (Jordan, 2024: airbench).

Small datasets (MNIST: 47 MB) fit in memory many times over. Keeping them as one
``(N, C, H, W)`` uint8 tensor makes a batch one indexing operation: no per-item Python,
no worker processes, and augmentation runs on the whole batch afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from cnnkit.data.batching import IndexedDataset
from cnnkit.data.spec import DatasetSpec
from cnnkit.errors import CorruptDataError

__all__ = ["MemoryDataset"]


class MemoryDataset(IndexedDataset):
    """Images ``(N, C, H, W)`` uint8 and labels ``(N,)`` int64 in memory, batched by index."""

    def __init__(self, images: Tensor, labels: Tensor, spec: DatasetSpec) -> None:
        name = spec.name
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise CorruptDataError(
                f"dataset '{name}': images are {images.dtype} of shape {tuple(images.shape)}; "
                f"expected uint8 (N, C, H, W); check the files the images came from"
            )
        if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise CorruptDataError(
                f"dataset '{name}': labels are {labels.dtype} of shape {tuple(labels.shape)}; "
                f"expected integer (N,); check the label file"
            )
        if images.shape[0] != labels.shape[0]:
            raise CorruptDataError(
                f"dataset '{name}': {images.shape[0]} images but {labels.shape[0]} labels; "
                f"the image and label files do not belong together, replace both"
            )
        if images.shape[1] != spec.in_chans:
            raise CorruptDataError(
                f"dataset '{name}': images have {images.shape[1]} channels, the spec says "
                f"{spec.in_chans}; check the image file"
            )
        labels = labels.to(torch.int64)
        if labels.numel() and (labels.min() < 0 or labels.max() >= spec.num_classes):
            raise CorruptDataError(
                f"dataset '{name}': labels range {int(labels.min())}..{int(labels.max())} but there "
                f"are {spec.num_classes} classes; the label file is damaged, replace it"
            )
        self.images = images.contiguous()
        self.labels = labels
        self.spec = spec

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> MemoryDataset:
        """The same dataset held on ``device`` (a GPU then batches without host-to-device copies)."""
        return MemoryDataset(self.images.to(device), self.labels.to(device), self.spec)

    def __repr__(self) -> str:
        return f"MemoryDataset('{self.spec.name}', images={tuple(self.images.shape)})"

    def load(self, order: Iterator[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
        """``(x uint8 (B, C, H, W), y int64 (B,))``: one indexing of the whole tensor per batch."""
        for index in order:
            yield self.images[index], self.labels[index]
