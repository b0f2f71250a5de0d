"""load_dataset for every named dataset, from generated files (and the real Fashion-MNIST if installed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnkit.data.sources as sources
from cnnkit.data import FolderDataset, MemoryDataset, dataset_spec, list_datasets, load_dataset, write_idx
from cnnkit.errors import ConfigError, CorruptDataError, MissingDataError, UnknownDatasetError

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_list_datasets() -> None:
    assert list_datasets() == [
        "caltech101",
        "digits",
        "fashion-mnist",
        "folder",
        "imagenet",
        "kmnist",
        "mnist",
    ]


def test_unknown_dataset_suggests() -> None:
    with pytest.raises(UnknownDatasetError, match="did you mean 'fashion-mnist'") as info:
        load_dataset("fashon-mnist")
    assert "known datasets: caltech101" in str(info.value)
    assert isinstance(load_dataset("DIGITS", "test"), MemoryDataset)  # case and '_' are forgiven


def test_bad_split_and_size() -> None:
    with pytest.raises(ConfigError, match="'train' or 'test'"):
        load_dataset("digits", "validation")
    with pytest.raises(ConfigError, match="8x8"):
        load_dataset("digits", image_size=28)


def test_digits_matches_sklearn_and_fixed_split() -> None:
    from sklearn.datasets import load_digits

    reference = load_digits()
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test", seed=123)
    assert train.images.shape == (1438, 1, 8, 8) and test.images.shape == (359, 1, 8, 8)
    assert train.images.dtype == torch.uint8 and int(train.images.max()) == 255
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~20 % of each class
    # Every image of the split is a real scikit-learn digit with its own label, none twice.
    ref = {
        (tuple(np.round(img * 255 / 16).astype(np.uint8).ravel()), int(t))
        for img, t in zip(reference.images, reference.target)
    }
    seen = {
        (tuple(x.ravel().tolist()), int(y))
        for x, y in zip(torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels]))
    }
    assert seen <= ref
    torch.testing.assert_close(load_dataset("digits", "test", seed=0).images, test.images)
    mean = train.images.float().div(255).mean().item()
    assert abs(mean - train.spec.mean[0]) < 1e-3
    assert train.spec.hflip is False and train.spec.classes[3] == "3"


def test_mnist_from_data_dir(tmp_path: Path, make_idx_split: Callable) -> None:
    images, labels = make_idx_split(tmp_path / "mnist", "test", 7, seed=1, compress=False)
    ds = load_dataset("mnist", "test", data_dir=tmp_path, download=False)
    assert isinstance(ds, MemoryDataset) and ds.images.shape == (7, 1, 28, 28)
    np.testing.assert_array_equal(ds.images[:, 0].numpy(), images)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert ds.spec.name == "mnist" and ds.spec.num_classes == 10


def test_idx_count_mismatch(tmp_path: Path, make_idx_split: Callable) -> None:
    make_idx_split(tmp_path, "train", 5, seed=0)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8), compress=True)
    with pytest.raises(CorruptDataError, match="5 images but .* 4 labels"):
        load_dataset("kmnist", "train", data_dir=tmp_path, download=False)


def test_idx_wrong_shape_and_labels(tmp_path: Path, make_idx_split: Callable) -> None:
    make_idx_split(tmp_path, "train", 3, seed=0, size=14)
    with pytest.raises(CorruptDataError, match="28, 28"):
        load_dataset("mnist", "train", data_dir=tmp_path, download=False)
    make_idx_split(tmp_path, "train", 3, seed=0)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 10], np.uint8), compress=True)
    with pytest.raises(CorruptDataError, match="label 10"):
        load_dataset("mnist", "train", data_dir=tmp_path, download=False)


def test_truncated_real_style_file(tmp_path: Path, make_idx_split: Callable) -> None:
    make_idx_split(tmp_path, "test", 20, seed=0)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(CorruptDataError, match="t10k-images-idx3-ubyte.gz"):
        load_dataset("fashion-mnist", "test", data_dir=tmp_path, download=False)


def test_folder_dataset(tmp_path: Path, write_image: Callable) -> None:
    for c, name in enumerate(["ant", "bee"]):
        for i in range(5):
            write_image(tmp_path / name / f"{i}.png", (200 * c, 50, 50), size=(40, 30))
    ds = load_dataset("folder", "train", data_dir=tmp_path, image_size=16, num_workers=0)
    assert isinstance(ds, FolderDataset) and len(ds) == 8
    assert ds.spec.classes == ("ant", "bee") and ds.spec.crop_padding == 2 and ds.spec.hflip
    x, y = next(ds.batches(8))
    assert x.shape == (8, 3, 16, 16) and x.dtype == torch.uint8
    with pytest.raises(MissingDataError, match="--data-dir"):
        load_dataset("folder")


def test_caltech101_dataset(tmp_path: Path, write_image: Callable) -> None:
    root = tmp_path / "caltech101" / "101_ObjectCategories"
    for name in ("BACKGROUND_Google", "Faces", "ant"):
        for i in range(4):
            write_image(root / name / f"image_{i:04d}.jpg", (0, 0, 0), size=(20, 20))
    train = load_dataset("caltech101", "train", data_dir=tmp_path, train_per_class=3, num_workers=0)
    test = load_dataset("caltech101", "test", data_dir=tmp_path, train_per_class=3, num_workers=0)
    assert train.spec.classes == ("Faces", "ant") and len(train) == 6 and len(test) == 2
    assert train.spec.image_size == (128, 128)


def test_imagenet_dataset_names(tmp_path: Path, write_image: Callable) -> None:
    for w in ("n02012849", "n03126707", "n01440764"):  # crane (bird), crane (machine), tench
        write_image(tmp_path / "train" / w / f"{w}_1.JPEG", (5, 5, 5), size=(30, 20))
        write_image(tmp_path / "val" / w / f"val_{w}.JPEG", (5, 5, 5), size=(30, 20))
    ds = load_dataset("imagenet", "test", data_dir=tmp_path, image_size=8, num_workers=0)
    assert ds.spec.classes == ("tench", "crane (n02012849)", "crane (n03126707)")
    assert ds.spec.mean == (0.485, 0.456, 0.406)
    assert sorted(ds.labels.tolist()) == [0, 1, 2]


def test_dataset_spec_needs_no_images(tmp_path: Path, write_image: Callable) -> None:
    # No IDX file exists and downloads are refused: the spec alone must still come back.
    assert dataset_spec("mnist").classes == tuple("0123456789") and dataset_spec("mnist").image_size == (28, 28)
    assert dataset_spec("Fashion_MNIST").classes[-1] == "Ankle boot"
    assert dataset_spec("digits") == load_dataset("digits", "test").spec
    imagenet = dataset_spec("imagenet", image_size=64)
    assert len(imagenet.classes) == 1000 and imagenet.classes[0] == "tench" and imagenet.image_size == (64, 64)
    assert "crane (n02012849)" in imagenet.classes
    with pytest.raises(ConfigError, match="28x28"):
        dataset_spec("mnist", image_size=32)
    for c, name in enumerate(["ant", "bee"]):
        write_image(tmp_path / name / "0.png", (200 * c, 50, 50))
    folder = dataset_spec("folder", data_dir=tmp_path, image_size=16)
    assert folder.classes == ("ant", "bee") and folder.image_size == (16, 16)
    with pytest.raises(MissingDataError):
        dataset_spec("caltech101")


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "SYSTEM_LOCATIONS", [REAL_FASHION.parent])
    ds = load_dataset("fashion-mnist", "train", download=False)
    assert ds.images.shape == (60000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert torch.bincount(ds.labels).tolist() == [6000] * 10
    pixels = ds.images.float().div_(255)
    assert abs(pixels.mean().item() - ds.spec.mean[0]) < 1e-3
    assert abs(pixels.std().item() - ds.spec.std[0]) < 1e-3
