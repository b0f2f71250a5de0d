"""Image decoding, folder layouts and the streamed FolderDataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data.catalog import folder_spec
from cnnkit.data.folders import FolderDataset
from cnnkit.data.images import image_to_tensor, load_image, resize_center_crop
from cnnkit.data.layouts import caltech101_samples, folder_samples, imagenet_class_names, imagenet_samples
from cnnkit.errors import ConfigError, ImageError, MissingDataError

COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


@pytest.fixture
def image_folder(tmp_path: Path, write_image: Callable) -> Path:
    """ROOT/<class>/ with 5 solid-colour images per class, mixed PNG/JPEG and sizes."""
    root = tmp_path / "imgs"
    for c, name in enumerate(["cat", "dog", "fox"]):
        for i in range(5):
            suffix = ".png" if i % 2 else ".JPG"
            write_image(root / name / f"img{i}{suffix}", COLORS[c], size=(10 + 3 * i, 8 + i))
    (root / "dog" / "notes.txt").write_text("not an image, and not listed")
    return root


def test_load_image_applies_exif_orientation(tmp_path: Path) -> None:
    image = Image.new("RGB", (20, 10), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    image.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "r.jpg").size == (10, 20)
    assert load_image(tmp_path / "r.jpg", mode="L").mode == "L"


def test_load_image_errors(tmp_path: Path) -> None:
    (tmp_path / "fake.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(ImageError, match="fake.jpg") as info:
        load_image(tmp_path / "fake.jpg")
    assert "\n" not in str(info.value)
    good = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    good.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(good)
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "missing.png")


def test_resize_center_crop_matches_pillow_reference() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    got = resize_center_crop(image, 12)
    reference = image.resize((20, 12), Image.Resampling.BILINEAR, reducing_gap=3.0).crop((4, 0, 16, 12))
    assert got.size == (12, 12)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(reference))
    t = image_to_tensor(got)
    assert t.dtype == torch.uint8 and t.shape == (3, 12, 12)
    np.testing.assert_array_equal(t.permute(1, 2, 0).numpy(), np.asarray(got))


def test_folder_unsplit_is_seeded_stratified(image_folder: Path) -> None:
    classes, train = folder_samples(image_folder, "train", seed=0)
    _, test = folder_samples(image_folder, "test", seed=0)
    assert classes == ["cat", "dog", "fox"]
    assert sorted(y for _, y in test) == [0, 1, 2]  # round(0.2 * 5) = 1 per class
    assert not {p for p, _ in train} & {p for p, _ in test}
    assert len(train) + len(test) == 15 and all(p.suffix != ".txt" for p, _ in train)
    assert folder_samples(image_folder, "test", seed=0) == (classes, test)
    others = [folder_samples(image_folder, "test", seed=s)[1] for s in range(1, 6)]
    assert any(o != test for o in others)


def test_folder_presplit(tmp_path: Path, write_image: Callable) -> None:
    for split, n in (("train", 3), ("val", 2)):
        for c, name in enumerate(["a", "b"]):
            for i in range(n):
                write_image(tmp_path / split / name / f"{i}.png", COLORS[c])
    classes, train = folder_samples(tmp_path, "train")
    _, test = folder_samples(tmp_path, "test")
    assert classes == ["a", "b"] and len(train) == 6 and len(test) == 4
    assert all(p.parts[-3] == "val" for p, _ in test)
    with pytest.raises(ConfigError, match="split"):
        folder_samples(tmp_path, "validation")
    with pytest.raises(MissingDataError):
        folder_samples(tmp_path / "nowhere", "train")


def test_caltech_split(tmp_path: Path, write_image: Callable) -> None:
    root = tmp_path / "101_ObjectCategories"
    counts = {"BACKGROUND_Google": 4, "accordion": 7, "yin_yang": 5}
    for name, n in counts.items():
        for i in range(n):
            write_image(root / name / f"image_{i:04d}.jpg", (9, 9, 9), size=(4, 4))
    classes, train = caltech101_samples(root, "train", train_per_class=3)
    _, test = caltech101_samples(root, "test", train_per_class=3)
    assert classes == ["accordion", "yin_yang"]
    assert [sum(y == c for _, y in train) for c in range(2)] == [3, 3]
    assert [sum(y == c for _, y in test) for c in range(2)] == [4, 2]
    assert not {p for p, _ in train} & {p for p, _ in test}
    assert caltech101_samples(root, "train", train_per_class=3)[1] == train
    with_bg, _ = caltech101_samples(root, "train", train_per_class=3, include_background=True)
    assert with_bg[0] == "BACKGROUND_Google"


def test_imagenet_layouts(tmp_path: Path, write_image: Callable) -> None:
    wnids = ["n01443537", "n01440764"]
    for w in wnids:
        for i in range(2):
            write_image(tmp_path / "train" / w / f"{w}_{i}.JPEG", (1, 1, 1), size=(4, 4))
    write_image(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", (1, 1, 1), size=(4, 4))
    write_image(tmp_path / "val" / "ILSVRC2012_val_00000002.JPEG", (1, 1, 1), size=(4, 4))
    with pytest.raises(MissingDataError, match="LOC_val_solution.csv"):
        imagenet_samples(tmp_path, "test")
    (tmp_path / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00000001,n01443537 1 2 3 4 n01443537 5 6 7 8\n"
        "ILSVRC2012_val_00000002,n01440764 1 2 3 4\n"
    )
    classes, train = imagenet_samples(tmp_path, "train")
    assert classes == sorted(wnids) and len(train) == 4
    _, val = imagenet_samples(tmp_path, "test")
    assert sorted((p.name, y) for p, y in val) == [
        ("ILSVRC2012_val_00000001.JPEG", 1),
        ("ILSVRC2012_val_00000002.JPEG", 0),
    ]


def test_bundled_imagenet_classes() -> None:
    table = imagenet_class_names()
    wnids = list(table)
    assert len(wnids) == 1000 == len(set(wnids)) and wnids == sorted(wnids)
    assert all(w.startswith("n") and len(w) == 9 for w in wnids)
    assert table["n01440764"] == "tench, Tinca tinca"
    assert table["n15075141"].startswith("toilet tissue")


@pytest.mark.parametrize("num_workers", [0, 2])
def test_folder_dataset_batches(image_folder: Path, num_workers: int) -> None:
    classes, samples = folder_samples(image_folder, "train")
    ds = FolderDataset(samples, folder_spec("folder", classes, 6), image_size=6, num_workers=num_workers)
    gen = torch.Generator().manual_seed(0)
    batches = list(ds.batches(5, shuffle=True, generator=gen))
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
    assert [len(y) for _, y in batches] == [5, 5, 2] == [5, 5, 2][: ds.num_batches(5)]
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert x.dtype == torch.uint8 and x.shape == (12, 3, 6, 6)
    torch.testing.assert_close(y, ds.labels[perm])
    for image, label in zip(x, y):  # solid colours survive decoding (JPEG within a few levels)
        expected = torch.tensor(COLORS[int(label)], dtype=torch.int16).view(3, 1, 1)
        assert (image.to(torch.int16) - expected).abs().max() <= 8


def test_folder_dataset_bad_file_is_image_error(image_folder: Path) -> None:
    (image_folder / "cat" / "broken.png").write_bytes(b"\x89PNG but no more")
    classes, samples = folder_samples(image_folder, "train", test_fraction=0.2)
    samples = samples + [(image_folder / "cat" / "broken.png", 0)]
    ds = FolderDataset(samples, folder_spec("folder", classes, 4), image_size=4, num_workers=1)
    with pytest.raises(ImageError, match="broken.png") as info:
        for _ in ds.batches(4):
            pass
    assert "\n" not in str(info.value)


def test_folder_with_only_train_is_split(tmp_path: Path, write_image: Callable) -> None:
    for c, name in enumerate(["a", "b"]):
        for i in range(5):
            write_image(tmp_path / "train" / name / f"{i}.png", COLORS[c])
    classes, test = folder_samples(tmp_path, "test")
    assert classes == ["a", "b"] and len(test) == 2
