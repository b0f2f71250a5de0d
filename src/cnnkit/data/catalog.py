"""The named datasets cnnkit knows, and ``load_dataset``, the one way to get any of them.

- ``mnist`` (LeCun et al., 1998), ``fashion-mnist`` (Xiao et al., 2017, arXiv:1708.07747),
  ``kmnist`` (Clanuwat et al., 2018, arXiv:1812.01718): 28x28 grey IDX files, in memory.
- ``digits``: scikit-learn's bundled 8x8 UCI digits (Alpaydin & Kaynak, 1998), always
  available offline; pixels 0..16 scaled to 0..255; a fixed stratified 20 % test split
  (seed 0, independent of ``seed``, so its test set never changes).
- ``caltech101`` (Fei-Fei et al., 2004), ``imagenet`` (Russakovsky et al., 2015,
  arXiv:1409.0575) and any ``folder`` of ``class/image`` files: streamed from disk.

Means and standard deviations are per channel over each training set's pixels in [0, 1]
(digits over cnnkit's own training split); RGB folders use ImageNet's.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter

import numpy as np
import torch

from cnnkit.data.folders import FolderDataset
from cnnkit.data.idx import read_idx
from cnnkit.data.layouts import caltech101_samples, folder_samples, imagenet_class_names, imagenet_samples
from cnnkit.data.memory import MemoryDataset
from cnnkit.data.sources import locate_caltech101, locate_folder, locate_idx, locate_imagenet
from cnnkit.data.spec import DatasetSpec
from cnnkit.data.split import stratified_split
from cnnkit.errors import ConfigError, CorruptDataError, UnknownDatasetError

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "dataset_spec", "folder_spec", "is_folder_dataset", "list_datasets", "load_dataset",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_DIGITS = tuple(str(d) for d in range(10))

_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")  # one hiragana per row


def _grey(
    name: str, classes: tuple[str, ...], size: int, mean: float, std: float, hflip: bool
) -> DatasetSpec:
    pad = 2 if size >= 28 else 1  # pixels: 2 on 28x28 images, 1 on the 8x8 digits
    return DatasetSpec(name, classes, 1, (size, size), (mean,), (std,), hflip=hflip, crop_padding=pad)


_MEMORY_SPECS: dict[str, DatasetSpec] = {
    "mnist": _grey("mnist", _DIGITS, 28, 0.1307, 0.3081, hflip=False),
    "fashion-mnist": _grey("fashion-mnist", _FASHION_CLASSES, 28, 0.2860, 0.3530, hflip=True),
    "kmnist": _grey("kmnist", _KMNIST_CLASSES, 28, 0.1918, 0.3483, hflip=False),
    "digits": _grey("digits", _DIGITS, 8, 0.3050, 0.3759, hflip=False),
}
_FOLDER_DEFAULT_SIZE = {"imagenet": 224, "caltech101": 128, "folder": 128}
_DIGITS_TEST_FRACTION = 0.2


def is_folder_dataset(name: str) -> bool:
    """Whether ``name`` streams image files from disk (and so takes an ``image_size``)."""
    return _canonical(name) in _FOLDER_DEFAULT_SIZE


def list_datasets() -> list[str]:
    """Names accepted by ``load_dataset``, sorted."""
    return sorted([*_MEMORY_SPECS, *_FOLDER_DEFAULT_SIZE])


def folder_spec(name: str, classes: list[str] | tuple[str, ...], image_size: int) -> DatasetSpec:
    """Spec of an RGB image-folder dataset: ImageNet statistics, flips allowed, crop padding size/8."""
    return DatasetSpec(
        name,
        tuple(classes),
        3,
        (image_size, image_size),
        IMAGENET_MEAN,
        IMAGENET_STD,
        hflip=True,
        crop_padding=image_size // 8,
    )


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    if key in list_datasets():
        return key
    close = difflib.get_close_matches(key, list_datasets(), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise UnknownDatasetError(f"no dataset '{name}'; {hint}known datasets: {', '.join(list_datasets())}")


def _load_idx(
    name: str, split: str, data_dir: str | os.PathLike[str] | None, download: bool
) -> MemoryDataset:
    spec = _MEMORY_SPECS[name]
    paths = locate_idx(name, split, data_dir=data_dir, download_ok=download)
    images, labels = read_idx(paths["images"]), read_idx(paths["labels"])
    fix = "delete it and download it again, or point --data-dir at an intact copy"
    if images.dtype != np.uint8 or images.shape[1:] != spec.image_size or images.ndim != 3:
        raise CorruptDataError(
            f"'{paths['images']}' holds {images.dtype} {images.shape}, not {name}'s uint8 "
            f"(N, {spec.image_size[0]}, {spec.image_size[1]}) images; {fix}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise CorruptDataError(
            f"'{paths['labels']}' holds {labels.dtype} {labels.shape}, not uint8 labels (N,); {fix}"
        )
    if len(images) != len(labels):
        raise CorruptDataError(
            f"'{paths['images']}' has {len(images)} images but '{paths['labels']}' has {len(labels)} "
            f"labels; they do not belong together, replace both files"
        )
    if labels.size and labels.max() >= spec.num_classes:
        raise CorruptDataError(
            f"'{paths['labels']}' has label {int(labels.max())} but {name} has "
            f"{spec.num_classes} classes; {fix}"
        )
    x = torch.from_numpy(images).unsqueeze(1)  # (N, 1, H, W)
    return MemoryDataset(x, torch.from_numpy(labels).to(torch.int64), spec)


def _load_digits(split: str) -> MemoryDataset:
    from sklearn.datasets import load_digits  # heavy import, only when asked for

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (N, 8, 8), 0..16 -> 0..255
    train, test = stratified_split(digits.target, test_fraction=_DIGITS_TEST_FRACTION, seed=0)
    index = train if split == "train" else test
    x = torch.from_numpy(images[index]).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(digits.target[index].astype(np.int64))
    return MemoryDataset(x, y, _MEMORY_SPECS["digits"])


def _imagenet_names(wnids: list[str]) -> list[str]:
    """First synonym of each class ('tench'), with the wnid added where two classes share it ('crane')."""
    table = imagenet_class_names()
    first = [table.get(w, w).split(",")[0].strip() for w in wnids]
    counts = Counter(first)
    return [f"{n} ({w})" if counts[n] > 1 else n for n, w in zip(first, wnids)]


def _check_native_size(key: str, image_size: int | None) -> None:
    native = _MEMORY_SPECS[key].image_size
    if image_size is not None and (image_size, image_size) != native:
        raise ConfigError(
            f"{key} images are {native[0]}x{native[1]}; leave image_size unset (set the model's "
            f"input_size instead)"
        )


def _folder_size(key: str, image_size: int | None) -> int:
    size = image_size if image_size is not None else _FOLDER_DEFAULT_SIZE[key]
    if size < 1:
        raise ConfigError(f"image_size={size}; give 1 or more pixels")
    return size


def dataset_spec(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, image_size: int | None = None
) -> DatasetSpec:
    """A named dataset's spec without its images: in-memory sets and imagenet need no files.

    ``caltech101`` and ``folder`` take their classes from the folders on disk: they are
    listed, never downloaded, and no image is decoded.
    """
    key = _canonical(name)
    if key in _MEMORY_SPECS:
        _check_native_size(key, image_size)
        return _MEMORY_SPECS[key]
    size = _folder_size(key, image_size)
    if key == "imagenet":  # the 1000 ILSVRC-2012 classes in wnid order, as every ImageNet model has them
        return folder_spec(key, _imagenet_names(list(imagenet_class_names())), size)
    return load_dataset(key, "train", data_dir=data_dir, download=False, image_size=size, num_workers=0).spec


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    image_size: int | None = None,
    train_per_class: int = 30,
    include_background: bool = False,
    test_fraction: float = 0.2,
    num_workers: int = 2,
    seed: int = 0,
) -> MemoryDataset | FolderDataset:
    """Load one split ('train' or 'test') of a named dataset, finding or downloading its files.

    ``image_size`` is the side of the square crop folder datasets decode to (default 224 for
    imagenet, 128 otherwise); in-memory datasets keep their native size. ``seed`` fixes the
    per-class splits of ``caltech101`` (``train_per_class`` images each for training) and of
    unsplit ``folder`` datasets (``test_fraction`` of each class for test).
    """
    key = _canonical(name)
    if split not in ("train", "test"):
        raise ConfigError(f"split '{split}' does not exist; use 'train' or 'test'")
    if key in _MEMORY_SPECS:
        _check_native_size(key, image_size)
        return _load_digits(split) if key == "digits" else _load_idx(key, split, data_dir, download)

    size = _folder_size(key, image_size)
    if key == "caltech101":
        root = locate_caltech101(data_dir, download_ok=download)
        classes, samples = caltech101_samples(
            root, split, train_per_class=train_per_class, include_background=include_background, seed=seed
        )
    elif key == "imagenet":
        wnids, samples = imagenet_samples(locate_imagenet(data_dir), split)
        classes = _imagenet_names(wnids)
    else:
        classes, samples = folder_samples(
            locate_folder(data_dir), split, test_fraction=test_fraction, seed=seed
        )
    return FolderDataset(samples, folder_spec(key, classes, size), image_size=size, num_workers=num_workers)
