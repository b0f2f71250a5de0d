"""MemoryDataset: batches by index from one permutation, validated inputs."""

from __future__ import annotations

import pytest
import torch

from cnnkit.data.memory import MemoryDataset
from cnnkit.data.spec import DatasetSpec
from cnnkit.errors import ConfigError, CorruptDataError

SPEC = DatasetSpec("toy", ("a", "b", "c"), 1, (4, 4), (0.5,), (0.25,), hflip=False, crop_padding=1)


def toy(n: int = 10) -> MemoryDataset:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()
    labels = torch.arange(n) % 3
    return MemoryDataset(images, labels, SPEC)


def test_sequential_batches_cover_in_order() -> None:
    ds = toy(10)
    batches = list(ds.batches(4))
    assert [len(y) for _, y in batches] == [4, 4, 2] and ds.num_batches(4) == 3
    xs = torch.cat([x for x, _ in batches])
    torch.testing.assert_close(xs, ds.images)
    assert all(x.dtype == torch.uint8 and x.shape[1:] == (1, 4, 4) for x, _ in batches)
    assert all(y.dtype == torch.int64 for _, y in batches)


def test_shuffled_batches_follow_randperm() -> None:
    ds = toy(10)
    batches = list(ds.batches(3, shuffle=True, generator=torch.Generator().manual_seed(5)))
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(torch.cat([x for x, _ in batches]), ds.images[perm])
    torch.testing.assert_close(torch.cat([y for _, y in batches]), ds.labels[perm])
    ids = torch.cat([x[:, 0, 0, 0] for x, _ in batches])
    assert sorted(ids.tolist()) == list(range(10))


def test_drop_last() -> None:
    ds = toy(10)
    assert [len(y) for _, y in ds.batches(4, drop_last=True)] == [4, 4]
    assert ds.num_batches(4, drop_last=True) == 2
    with pytest.raises(ConfigError):
        ds.num_batches(0)


def test_image_label_count_mismatch() -> None:
    with pytest.raises(CorruptDataError, match="10 images but 9 labels"):
        MemoryDataset(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.zeros(9, dtype=torch.int64), SPEC)


def test_invalid_inputs() -> None:
    with pytest.raises(CorruptDataError, match="uint8"):
        MemoryDataset(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64), SPEC)
    with pytest.raises(CorruptDataError, match="labels range"):
        MemoryDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 3]), SPEC)
    with pytest.raises(CorruptDataError, match="channels"):
        MemoryDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), SPEC)


def test_spec_validation_and_num_classes() -> None:
    assert SPEC.num_classes == 3
    with pytest.raises(ConfigError, match="per channel"):
        DatasetSpec("x", ("a",), 3, (4, 4), (0.5,), (0.5,), hflip=True, crop_padding=0)
    with pytest.raises(ConfigError, match="positive"):
        DatasetSpec("x", ("a",), 1, (4, 4), (0.5,), (0.0,), hflip=True, crop_padding=0)
