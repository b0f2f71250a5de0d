"""Batch augmentation against brute-force per-sample references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.data.augment import augment_batch, normalize, random_crop, random_hflip, to_float
from cnnkit.data.spec import DatasetSpec
from cnnkit.errors import ConfigError


def batch(n: int = 6, c: int = 2, h: int = 5, w: int = 7) -> torch.Tensor:
    return torch.randint(1, 256, (n, c, h, w), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_to_float() -> None:
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    torch.testing.assert_close(to_float(x), torch.tensor([0.0, 0.2, 1.0]).view(1, 1, 1, 3))
    with pytest.raises(ConfigError):
        to_float(x.float())


@pytest.mark.parametrize("padding", [1, 3])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_random_crop_matches_pad_and_slice(padding: int, dtype: torch.dtype) -> None:
    x = batch().to(dtype)
    got = random_crop(x, padding, torch.Generator().manual_seed(3))
    offsets = torch.randint(0, 2 * padding + 1, (x.shape[0], 2), generator=torch.Generator().manual_seed(3))
    h, w = x.shape[2:]
    for i in range(x.shape[0]):  # the reference: one image at a time
        padded = F.pad(x[i], (padding,) * 4)
        dy, dx = offsets[i].tolist()
        torch.testing.assert_close(got[i], padded[:, dy : dy + h, dx : dx + w])
    assert got.dtype == dtype and got.shape == x.shape


def test_random_crop_offsets_differ_per_sample() -> None:
    x = batch(n=64)
    got = random_crop(x, 2, torch.Generator().manual_seed(0))
    zeros_top = (got[:, :, 0, :] == 0).all(dim=(1, 2))  # shifted down: first row is padding
    assert 0 < int(zeros_top.sum()) < 64


def test_random_crop_zero_padding_and_errors() -> None:
    x = batch()
    torch.testing.assert_close(random_crop(x, 0), x)
    with pytest.raises(ConfigError):
        random_crop(x, -1)
    with pytest.raises(ConfigError):
        random_crop(x[0], 1)


def test_random_hflip_flips_chosen_samples() -> None:
    x = batch(n=32)
    got = random_hflip(x, torch.Generator().manual_seed(9))
    chosen = torch.rand(32, generator=torch.Generator().manual_seed(9)) < 0.5
    assert 0 < int(chosen.sum()) < 32
    torch.testing.assert_close(got[chosen], torch.flip(x[chosen], dims=[3]))
    torch.testing.assert_close(got[~chosen], x[~chosen])


def test_normalize() -> None:
    x = to_float(batch(c=3))
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    expected = torch.stack([(x[:, c] - mean[c]) / std[c] for c in range(3)], dim=1)
    torch.testing.assert_close(normalize(x, mean, std), expected)
    with pytest.raises(ConfigError, match="per channel"):
        normalize(x, (0.1,), (0.5,))
    with pytest.raises(ConfigError, match="to_float"):
        normalize(batch(c=3), mean, std)


def test_augment_batch_respects_spec() -> None:
    x = batch(n=16, c=1)
    no_flip = DatasetSpec("d", ("0",), 1, (5, 7), (0.5,), (0.5,), hflip=False, crop_padding=0)
    torch.testing.assert_close(augment_batch(x, no_flip, torch.Generator().manual_seed(0)), x)
    flip = DatasetSpec("f", ("0",), 1, (5, 7), (0.5,), (0.5,), hflip=True, crop_padding=0)
    torch.testing.assert_close(
        augment_batch(x, flip, torch.Generator().manual_seed(1)),
        random_hflip(x, torch.Generator().manual_seed(1)),
    )
