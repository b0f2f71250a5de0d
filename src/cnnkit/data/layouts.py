"""On-disk layouts of image-folder datasets: generic class folders, Caltech-101, ImageNet.

Each reader turns a directory into ``(class names, [(file, class index)])`` for one split:

- ``folder``: ``ROOT/train/<class>/*`` and ``ROOT/test/<class>/*`` (or ``val/``), or
  ``ROOT/<class>/*`` split per class by ``stratified_split`` (default 20 % test, seeded).
- ``caltech101`` (Fei-Fei et al., 2004): ``101_ObjectCategories/<class>/*.jpg``; the
  ``BACKGROUND_Google`` clutter class is left out unless asked for; per class a seeded
  shuffle puts the first ``train_per_class`` images (30 in the standard protocol) in
  training and the rest in test.
- ``imagenet`` (Russakovsky et al., 2015, ILSVRC-2012): ``train/<wnid>/*.JPEG``; validation
  either ``val/<wnid>/*`` or a flat ``val/*.JPEG`` labelled by Kaggle's
  ``LOC_val_solution.csv``. Classes are the wnids in sorted order, named from the bundled
  ``imagenet_classes.txt``; ImageNet's "test" split here is its public validation set.

A symbolic link whose target lies outside the dataset folder is refused before anything
is opened through it (a link to ``/etc/passwd`` named ``cat.jpg`` must not be read). The
readers raise one ``DataError`` counting every such link rather than skipping them, so that
a dataset never trains on silently fewer files than the folder shows. Links that stay
inside the folder are followed as usual.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from importlib import resources
from pathlib import Path

import numpy as np

from cnnkit.data.images import IMAGE_SUFFIXES
from cnnkit.data.split import per_class_split, stratified_split
from cnnkit.errors import ConfigError, CorruptDataError, DataError, MissingDataError
from cnnkit.files import MIB, read_text

__all__ = [
    "CALTECH_BACKGROUND",
    "caltech101_samples",
    "folder_samples",
    "imagenet_class_names",
    "imagenet_samples",
    "list_images",
]

Samples = list[tuple[Path, int]]
CALTECH_BACKGROUND = "BACKGROUND_Google"
_TEST_DIRS = ("test", "val")


_MAX_CSV_BYTES = 64 * MIB  # LOC_val_solution.csv holds 50,000 rows in about 2 MB


class _Tree:
    """One dataset folder, listed without following links out of it; ``escaped`` collects those links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real = Path(os.path.realpath(root))
        self.escaped: dict[Path, str] = {}  # link -> where it leads; a dict, as a folder may be listed twice

    def _inside(self, path: str) -> bool:
        """Whether ``path`` resolves into the tree, noting it in ``escaped`` if not."""
        real = os.path.realpath(path)
        if Path(real).is_relative_to(self.real):
            return True
        self.escaped[Path(path)] = real
        return False

    def _keeps(self, entry: os.DirEntry[str]) -> bool:
        # Only a link needs resolving: a plain entry of a folder inside the tree is inside it.
        return not entry.is_symlink() or self._inside(entry.path)

    def entries(self, directory: Path) -> list[os.DirEntry[str]]:
        """The visible entries of ``directory`` that stay inside the tree (none if it leaves the tree)."""
        if not self._inside(str(directory)):
            return []
        with os.scandir(directory) as entries:
            return [e for e in entries if not e.name.startswith(".") and self._keeps(e)]

    def check(self) -> None:
        """Refuse the dataset if any link led out of the tree."""
        if self.escaped:
            link, target = next(iter(self.escaped.items()))
            raise DataError(
                f"{len(self.escaped)} link(s) under '{self.root}' lead outside it (first: '{link}' -> "
                f"'{target}'); cnnkit reads only files inside the dataset folder: replace the links by "
                f"copies (cp -rL) or hard links, or move their targets inside '{self.root}'"
            )


def list_images(directory: Path, *, tree: _Tree | None = None) -> list[Path]:
    """Image files directly in ``directory`` (by suffix, hidden files skipped), sorted by name.

    Links leading out of ``tree`` (by default ``directory`` itself) are left out and noted in it.
    """
    tree = tree if tree is not None else _Tree(directory)
    return sorted(
        Path(e.path)
        for e in tree.entries(directory)
        if Path(e.name).suffix.lower() in IMAGE_SUFFIXES and e.is_file()  # a link's target is checked first
    )


def _class_dirs(root: Path, tree: _Tree) -> list[Path]:
    return sorted(Path(e.path) for e in tree.entries(root) if e.is_dir())


def _scan(class_dirs: list[Path], names: dict[str, int], tree: _Tree) -> Samples:
    return [(f, names[d.name]) for d in class_dirs if d.name in names for f in list_images(d, tree=tree)]


def _require(samples: Samples, split: str, root: Path, layout: str) -> Samples:
    # An empty split fails far from its cause (a division by zero in the training loop).
    if not samples:
        raise MissingDataError(f"no images for split '{split}' under '{root}'; expected {layout}")
    return samples


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ConfigError(f"split '{split}' does not exist; use 'train' or 'test'")


def folder_samples(
    root: str | os.PathLike[str], split: str, *, test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[str], Samples]:
    """Read a ``class/image`` folder (ImageFolder layout), pre-split or split per class with a seed."""
    _check_split(split)
    root = Path(root)
    if not root.is_dir():
        raise MissingDataError(
            f"image folder '{root}' does not exist; give --data-dir a folder of <class>/<image> "
            f"files or of train/<class>/ and test/<class>/"
        )
    tree = _Tree(root)
    test_dir = next((root / d for d in _TEST_DIRS if (root / d).is_dir()), None)
    if test_dir is None and [d.name for d in _class_dirs(root, tree)] == ["train"]:
        root = root / "train"  # only a training folder: split it like an unsplit one
    if (root / "train").is_dir() and test_dir is not None:
        classes = [d.name for d in _class_dirs(root / "train", tree)]
        names = {c: i for i, c in enumerate(classes)}
        where = root / "train" if split == "train" else test_dir
        samples = _scan(_class_dirs(where, tree), names, tree)
    else:
        class_dirs = [d for d in _class_dirs(root, tree) if list_images(d, tree=tree)]
        classes = [d.name for d in class_dirs]
        samples = _scan(class_dirs, {c: i for i, c in enumerate(classes)}, tree)
        labels = np.array([y for _, y in samples], dtype=np.int64)
        train, test = stratified_split(labels, test_fraction=test_fraction, seed=seed)
        samples = [samples[i] for i in (train if split == "train" else test)]
    tree.check()
    if not classes or not samples:
        raise MissingDataError(
            f"no images for split '{split}' under '{root}'; expected <class>/<image> files "
            f"(suffixes {', '.join(sorted(IMAGE_SUFFIXES))}) or train/<class>/ and test/<class>/"
        )
    return classes, samples


def caltech101_samples(
    categories_dir: str | os.PathLike[str],
    split: str,
    *,
    train_per_class: int = 30,
    include_background: bool = False,
    seed: int = 0,
) -> tuple[list[str], Samples]:
    """Read ``101_ObjectCategories`` with the N-per-class training split (Fei-Fei et al., 2004)."""
    _check_split(split)
    root = Path(categories_dir)
    tree = _Tree(root)
    class_dirs = [d for d in _class_dirs(root, tree) if include_background or d.name != CALTECH_BACKGROUND]
    if not class_dirs:
        tree.check()
        raise MissingDataError(
            f"'{root}' has no class folders; point --data-dir at Caltech-101's 101_ObjectCategories "
            f"or the folder holding it"
        )
    classes = [d.name for d in class_dirs]
    samples = _scan(class_dirs, {c: i for i, c in enumerate(classes)}, tree)
    tree.check()
    labels = np.array([y for _, y in samples], dtype=np.int64)
    train, test = per_class_split(labels, train_per_class=train_per_class, seed=seed)
    chosen = [samples[i] for i in (train if split == "train" else test)]
    layout = f"<class>/*.jpg with more than train_per_class={train_per_class} images in some class"
    return classes, _require(chosen, split, root, layout)


@functools.cache
def imagenet_class_names() -> dict[str, str]:
    """The 1000 ILSVRC-2012 wnids in sorted order, each with its human-readable synonyms."""
    text = resources.files("cnnkit.data").joinpath("imagenet_classes.txt").read_text("utf-8")
    pairs = [line.split("\t", 1) for line in text.splitlines() if line.strip()]
    return {wnid: name for wnid, name in pairs}


def _val_solution(imagenet_root: Path) -> Path | None:
    """Kaggle's LOC_val_solution.csv, beside the data or up to three folders above it."""
    for folder in [imagenet_root, *list(imagenet_root.parents)[:3]]:
        candidate = folder / "LOC_val_solution.csv"
        if candidate.is_file():
            return candidate
    return None


def _read_val_solution(path: Path) -> dict[str, str]:
    """Map image id to wnid from ``ImageId,PredictionString`` rows (first box's class)."""
    text = read_text(path, what="ImageNet validation labels", max_bytes=_MAX_CSV_BYTES, error=CorruptDataError)
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        return {row["ImageId"]: row["PredictionString"].split()[0] for row in rows}
    except (KeyError, IndexError, AttributeError, csv.Error) as e:
        raise CorruptDataError(
            f"'{path}' is not Kaggle's LOC_val_solution.csv (ImageId,PredictionString): {e!r}; "
            f"replace it with the file from the ILSVRC download"
        ) from None


def imagenet_samples(root: str | os.PathLike[str], split: str) -> tuple[list[str], Samples]:
    """Read ILSVRC-2012's ``train/<wnid>/`` and ``val/`` layouts (Russakovsky et al., 2015)."""
    _check_split(split)
    root = Path(root)
    tree = _Tree(root)
    train_dir, val_dir = root / "train", root / "val"
    if (train_dir).is_dir():
        wnids = [d.name for d in _class_dirs(train_dir, tree)]
    else:
        wnids = sorted(imagenet_class_names())
    names = {w: i for i, w in enumerate(wnids)}
    if split == "train":
        if not train_dir.is_dir():
            raise MissingDataError(
                f"ImageNet has no '{train_dir}'; put ILSVRC-2012's train/<wnid>/*.JPEG there"
            )
        samples = _scan(_class_dirs(train_dir, tree), names, tree)
        tree.check()
        return wnids, _require(samples, split, train_dir, "<wnid>/*.JPEG")
    if not val_dir.is_dir():
        raise MissingDataError(
            f"ImageNet has no '{val_dir}'; put ILSVRC-2012's validation images there as "
            f"val/<wnid>/*.JPEG, or flat with LOC_val_solution.csv beside them"
        )
    val_class_dirs = [d for d in _class_dirs(val_dir, tree) if d.name in names]
    if val_class_dirs:
        samples = _scan(val_class_dirs, names, tree)
        tree.check()
        return wnids, _require(samples, split, val_dir, "<wnid>/*.JPEG")
    solution = _val_solution(root)
    if solution is None:
        tree.check()
        raise MissingDataError(
            f"'{val_dir}' holds flat images but no LOC_val_solution.csv was found beside it; "
            f"copy Kaggle's LOC_val_solution.csv into '{root}', or sort the images into val/<wnid>/"
        )
    labels = _read_val_solution(solution)
    images = list_images(val_dir, tree=tree)
    tree.check()
    samples = [(f, names[labels[f.stem]]) for f in images if labels.get(f.stem) in names]
    return wnids, _require(samples, split, val_dir, "*.JPEG named in LOC_val_solution.csv")
