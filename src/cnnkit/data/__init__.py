"""Datasets: the IDX format, named datasets found or downloaded and verified, in-memory and
streamed image folders, and batch-level augmentation.

``load_dataset(name, split)`` is the way in; every dataset yields uint8 batches
``(B, C, H, W)`` with int64 labels and carries a ``DatasetSpec``.
"""

from cnnkit.data.augment import augment_batch, normalize, random_crop, random_hflip, to_float
from cnnkit.data.catalog import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    dataset_spec,
    folder_spec,
    is_folder_dataset,
    list_datasets,
    load_dataset,
)
from cnnkit.data.fetch import Remote, download, file_sha256
from cnnkit.data.extract import extract_archive
from cnnkit.data.folders import FolderDataset
from cnnkit.data.idx import parse_idx, read_idx, write_idx
from cnnkit.data.images import image_to_tensor, load_image, resize_center_crop
from cnnkit.data.layouts import caltech101_samples, folder_samples, imagenet_class_names, imagenet_samples
from cnnkit.data.memory import MemoryDataset
from cnnkit.data.protocol import Dataset
from cnnkit.data.sources import search_roots, user_cache_dir
from cnnkit.data.spec import DatasetSpec
from cnnkit.data.split import per_class_split, stratified_split

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Dataset",
    "DatasetSpec",
    "FolderDataset",
    "MemoryDataset",
    "Remote",
    "augment_batch",
    "caltech101_samples",
    "dataset_spec",
    "download",
    "extract_archive",
    "file_sha256",
    "folder_samples",
    "folder_spec",
    "image_to_tensor",
    "imagenet_class_names",
    "imagenet_samples",
    "is_folder_dataset",
    "list_datasets",
    "load_dataset",
    "load_image",
    "normalize",
    "parse_idx",
    "per_class_split",
    "random_crop",
    "random_hflip",
    "read_idx",
    "resize_center_crop",
    "search_roots",
    "stratified_split",
    "to_float",
    "user_cache_dir",
    "write_idx",
]
