"""Symbolic links in image folders: followed inside the dataset folder, refused when they leave it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data.catalog import load_dataset
from cnnkit.data.layouts import caltech101_samples, folder_samples, imagenet_samples
from cnnkit.errors import DataError, MissingDataError

_COLOURS = {"ant": (200, 10, 10), "bee": (10, 200, 10)}


@pytest.fixture
def tree(tmp_path: Path, write_image: Callable) -> Path:
    """ROOT/train/<class>/0..2.png and ROOT/test/<class>/0.png, one solid colour per class."""
    root = tmp_path / "root"
    for name, colour in _COLOURS.items():
        for i in range(3):
            write_image(root / "train" / name / f"{i}.png", colour, size=(6, 6))
        write_image(root / "test" / name / "0.png", colour, size=(6, 6))
    return root


def _refused(call: Callable[[], object], link: Path) -> str:
    with pytest.raises(DataError, match="lead outside it") as info:
        call()
    message = str(info.value)
    assert str(link) in message and "\n" not in message and "cp -rL" in message
    return message


def test_link_to_etc_passwd_is_refused_before_opening(tree: Path) -> None:
    link = tree / "train" / "ant" / "passwd.jpg"
    link.symlink_to("/etc/passwd")
    message = _refused(lambda: folder_samples(tree, "train"), link)
    assert "1 link(s)" in message and "/etc/passwd" in message


def test_every_escaping_link_is_counted(tree: Path, tmp_path: Path, write_image: Callable) -> None:
    outside = write_image(tmp_path / "elsewhere" / "x.png", (1, 2, 3))
    for i in range(3):
        (tree / "test" / "bee" / f"out{i}.png").symlink_to(outside)
    (tree / "train" / "wasp").symlink_to(outside.parent, target_is_directory=True)  # a class folder
    message = _refused(lambda: folder_samples(tree, "train"), tree / "train" / "wasp")
    assert "1 link(s)" in message  # the training split lists train/ only
    # The test split lists train/ for the class names, then test/.
    assert "4 link(s)" in _refused(lambda: folder_samples(tree, "test"), tree / "train" / "wasp")


def test_links_inside_the_tree_keep_working(tree: Path, tmp_path: Path) -> None:
    # A relative link to a sibling class's image, and a dataset root that is itself a link.
    (tree / "train" / "ant" / "alias.png").symlink_to(Path("..") / "bee" / "0.png")
    root_link = tmp_path / "root-link"
    root_link.symlink_to(tree, target_is_directory=True)
    classes, samples = folder_samples(root_link, "train")
    assert classes == ["ant", "bee"]
    assert (root_link / "train" / "ant" / "alias.png", 0) in samples and len(samples) == 7
    ds = load_dataset("folder", "train", data_dir=root_link, image_size=6, num_workers=0)
    x, y = next(ds.batches(len(ds)))
    paths = [str(p) for p, _ in ds.samples]
    alias = x[paths.index(str(root_link / "train" / "ant" / "alias.png"))]
    # The linked file's pixels, read here by Pillow directly.
    reference = torch.from_numpy(np.array(Image.open(tree / "train" / "bee" / "0.png").convert("RGB")))
    assert torch.equal(alias, reference.permute(2, 0, 1))


def test_caltech_and_imagenet_refuse_escaping_links(tree: Path, tmp_path: Path, write_image: Callable) -> None:
    outside = write_image(tmp_path / "elsewhere" / "x.jpg", (1, 2, 3))
    link = tree / "train" / "ant" / "x.jpg"
    link.symlink_to(outside)
    _refused(lambda: caltech101_samples(tree / "train", "train", train_per_class=1), link)
    _refused(lambda: imagenet_samples(tree, "train"), link)
    os.unlink(link)
    assert len(imagenet_samples(tree, "train")[1]) == 6


def test_empty_caltech_split_is_refused(tree: Path) -> None:
    # Every class has 3 images: 3 per class for training leaves the test split empty.
    with pytest.raises(MissingDataError, match="no images for split 'test'"):
        caltech101_samples(tree / "train", "test", train_per_class=3)
