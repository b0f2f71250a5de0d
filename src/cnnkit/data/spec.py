"""What a model needs to know about a dataset: classes, image shape, statistics, symmetries.

A ``DatasetSpec`` travels with every dataset and into ``model.json``, so a model rebuilt
from a run directory knows its class names and its input normalisation (lecture: data
preprocessing, zero-centring and scaling each channel by the training-set statistics).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnkit.errors import ConfigError

__all__ = ["DatasetSpec"]


@dataclass(frozen=True)
class DatasetSpec:
    """Classes, image shape, per-channel statistics and label-preserving symmetries of a dataset."""

    name: str
    classes: tuple[str, ...]
    in_chans: int
    image_size: tuple[int, int]  # (H, W) in pixels
    mean: tuple[float, ...]  # per channel, for pixels scaled to [0, 1]
    std: tuple[float, ...]  # per channel, for pixels scaled to [0, 1]
    hflip: bool  # does a horizontal flip keep the class? (no for digits: 2 vs 5-like shapes)
    crop_padding: int  # pixels of zero padding for the default random crop

    def __post_init__(self) -> None:
        if not self.classes:
            raise ConfigError(f"dataset '{self.name}' has no classes; give at least one class name")
        if self.in_chans < 1:
            raise ConfigError(f"dataset '{self.name}': in_chans={self.in_chans}; it must be 1 or more")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(
                f"dataset '{self.name}': image_size={self.image_size}; give (H, W) with both at least 1"
            )
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ConfigError(
                f"dataset '{self.name}': {len(self.mean)} means and {len(self.std)} stds for "
                f"{self.in_chans} channels; give one of each per channel"
            )
        if min(self.std) <= 0:
            raise ConfigError(f"dataset '{self.name}': std={self.std}; every std must be positive")
        if self.crop_padding < 0:
            raise ConfigError(
                f"dataset '{self.name}': crop_padding={self.crop_padding}; it must be 0 or more"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes, the width of the classifier's output layer."""
        return len(self.classes)
