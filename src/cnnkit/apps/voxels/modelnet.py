"""The ModelNet10/40 folder layout (Wu et al., 2015): ``ROOT/<class>/train/*.off`` and
``ROOT/<class>/test/*.off``, classes in sorted order of their folder names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnkit.errors import DataError, MissingDataError

__all__ = ["ModelNetSplit", "read_modelnet"]

SPLITS = ("train", "test")


@dataclass
class ModelNetSplit:
    """One split's meshes: their files, class indices, and the class names."""

    files: list[Path]
    labels: list[int]
    classes: tuple[str, ...]


def read_modelnet(root: str | Path, split: str) -> ModelNetSplit:
    """The ``split`` ("train" or "test") of a ModelNet folder; every class folder must hold that split."""
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"ModelNet has the splits train and test, not {split!r}")
    if not root.is_dir():
        raise MissingDataError(f"{root}: no such folder (ModelNet's layout is ROOT/<class>/train|test/*.off)")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not classes:
        raise DataError(f"{root}: no class folders (ModelNet's layout is ROOT/<class>/train|test/*.off)")
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name / split
        if not folder.is_dir():
            raise DataError(f"{folder}: missing (every class of {root} needs a {split}/ folder)")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".off")
        files += found
        labels += [label] * len(found)
    if not files:
        raise DataError(f"{root}: no .off meshes in any {split}/ folder")
    return ModelNetSplit(files, labels, classes)
