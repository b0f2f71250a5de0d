"""Where dataset files are found, in a fixed order, and fetched when nowhere to be found.

Every named dataset looks in the same places, first match wins:

1. the explicit ``data_dir`` (``--data-dir``),
2. ``$CNNKIT_DATA`` (several folders may be joined with ``os.pathsep``),
3. the user cache, ``$XDG_CACHE_HOME/cnnkit`` or ``~/.cache/cnnkit``,
4. system locations (``/usr/share/datasets``, where Debian's ``dataset-fashion-mnist`` puts
   ``fashion-mnist/``).

Inside each place the files may sit in ``<place>/<dataset>/`` (also torchvision's
``<place>/MNIST/raw/``), compressed or not, or directly in ``<place>/`` where that place is
``--data-dir`` or is named after the dataset (``/usr/share/datasets/fashion-mnist``): the
MNIST family shares file names, so loose files elsewhere could belong to any of them. When no place has
them, and downloading is allowed, they are downloaded into the cache and verified
(``cnnkit.data.fetch``). When that fails too, the ``MissingDataError`` names each missing
file, every place looked in, and every way to provide the files, on one line.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cnnkit.data.fetch import download
from cnnkit.data.extract import extract_archive
from cnnkit.data.remotes import CALTECH101_REMOTES, IDX_FILES, IDX_REMOTES
from cnnkit.errors import ConfigError, CorruptDataError, MissingDataError
from cnnkit.files import MIB, check_regular_file

__all__ = [
    "SYSTEM_LOCATIONS",
    "SearchRoot",
    "locate_caltech101",
    "locate_folder",
    "locate_idx",
    "locate_imagenet",
    "search_roots",
    "user_cache_dir",
]

# Module-level so tests (and unusual systems) can replace it.
SYSTEM_LOCATIONS: list[Path] = [Path("/usr/share/datasets")]

_DIR_ALIASES: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist", "MNIST"),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST"),
    "kmnist": ("kmnist", "KMNIST"),
    "caltech101": ("caltech101", "caltech-101", "Caltech101"),
    "imagenet": ("imagenet", "ImageNet", "ILSVRC2012", "imagenet-object-localization-challenge"),
}
_APT_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}
_CALTECH_DIR = "101_ObjectCategories"
_CALTECH_ARCHIVES = ("caltech-101.zip", "101_ObjectCategories.tar.gz", "caltech_101.tgz")
# Caltech-101 unpacks to about 150 MB in about 9,300 files and folders, at each step of
# zip -> tar.gz -> folder; 4 times that leaves room for repackaged copies, not for a bomb.
_CALTECH_MAX_BYTES = 640 * MIB
_CALTECH_MAX_MEMBERS = 40_000


@dataclass(frozen=True)
class SearchRoot:
    """One place cnnkit looks for dataset files, with where that place came from."""

    path: Path
    origin: str  # "--data-dir", "$CNNKIT_DATA", "cache" or "system"

    def __str__(self) -> str:
        return f"{self.origin} {self.path}"


def user_cache_dir() -> Path:
    """The per-user cache, ``$XDG_CACHE_HOME/cnnkit`` or ``~/.cache/cnnkit``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "cnnkit"


def cached_result(kind: str, key: dict) -> Path:
    """Where a computed result of ``kind`` (a folder of the user cache) for the JSON-able ``key`` lives:
    the same key, the same file, so a result is computed once (selective search, voxelised sets)."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return user_cache_dir() / kind / f"{digest}.safetensors"


def search_roots(data_dir: str | os.PathLike[str] | None = None) -> list[SearchRoot]:
    """The places to look, in order: ``data_dir``, ``$CNNKIT_DATA``, user cache, system locations."""
    roots = []
    if data_dir is not None:
        roots.append(SearchRoot(Path(data_dir).expanduser(), "--data-dir"))
    for entry in os.environ.get("CNNKIT_DATA", "").split(os.pathsep):
        if entry:
            roots.append(SearchRoot(Path(entry).expanduser(), "$CNNKIT_DATA"))
    roots.append(SearchRoot(user_cache_dir(), "cache"))
    roots.extend(SearchRoot(Path(p), "system") for p in SYSTEM_LOCATIONS)
    return roots


def _dataset_dirs(root: SearchRoot, name: str) -> list[Path]:
    """Folders of ``root`` that may hold dataset ``name``'s files, most specific first.

    MNIST, Fashion-MNIST and KMNIST share file names, so files lying directly in a root
    count only where the root is named after the dataset or was given as ``--data-dir``.
    """
    aliases = _DIR_ALIASES.get(name, (name,))
    dirs = []
    for alias in aliases:
        dirs += [root.path / alias, root.path / alias / "raw"]
    if root.origin == "--data-dir" or root.path.name in aliases:
        dirs.append(root.path)
    return dirs


def _idx_candidates(logical: str) -> list[str]:
    """File names an IDX file goes by: gzipped or not, and '.idx' spellings of some unpackers."""
    dotted = logical.replace("-idx", ".idx")
    return [f"{logical}.gz", logical, f"{dotted}.gz", dotted]


def _find_idx(directory: Path, logical: str) -> Path | None:
    for candidate in _idx_candidates(logical):
        path = directory / candidate
        if path.is_file():
            return path
        # A FIFO or device by that name is refused by name, not skipped as if absent; a folder
        # is skipped (some unpackers make train-images-idx3-ubyte/ holding the real file).
        if path.exists() and not path.is_dir():
            check_regular_file(path, what="IDX file", error=MissingDataError)
    return None


def _looked(roots: Sequence[SearchRoot]) -> str:
    places = ", ".join(str(r) for r in roots)
    if not any(r.origin == "$CNNKIT_DATA" for r in roots):
        places += " ($CNNKIT_DATA unset)"
    return places


def locate_idx(
    name: str, split: str, *, data_dir: str | os.PathLike[str] | None = None, download_ok: bool = True
) -> dict[str, Path]:
    """Find (or download and verify) the images and labels IDX files of one split of ``name``."""
    if name not in IDX_REMOTES:
        raise ConfigError(f"'{name}' is not an IDX dataset; use one of {', '.join(IDX_REMOTES)}")
    if split not in IDX_FILES:
        raise ConfigError(f"split '{split}' does not exist; use 'train' or 'test'")
    logical = IDX_FILES[split]
    roots = search_roots(data_dir)
    seen: dict[str, Path] = {}
    for root in roots:
        for directory in _dataset_dirs(root, name):
            found = {part: _find_idx(directory, file) for part, file in logical.items()}
            if all(found.values()):
                return found  # type: ignore[return-value]
            seen.update({part: p for part, p in found.items() if p is not None and part not in seen})

    failure = "downloading is off (download=False)"
    if download_ok:
        cache = user_cache_dir() / name
        try:
            return {
                part: _find_idx(cache, file) or download(IDX_REMOTES[name][f"{file}.gz"], cache)
                for part, file in logical.items()
            }
        except MissingDataError as e:
            failure = str(e)
            for part, file in logical.items():  # files fetched before the failure are not missing
                fetched = _find_idx(cache, file)
                if part not in seen and fetched is not None:
                    seen[part] = fetched

    missing = [f"{file}.gz" for part, file in logical.items() if part not in seen]
    if not missing:  # each file exists somewhere, but never both in one folder
        missing = [
            f"{file}.gz (found apart from its partner at {seen[part]})" for part, file in logical.items()
        ]
    first = IDX_REMOTES[name][f"{next(iter(logical.values()))}.gz"]
    bases = [r.url[: -len(r.filename)] for r in first]
    urls = f"{bases[0]}" + (f" (mirrors: {', '.join(bases[1:])})" if len(bases) > 1 else "")
    apt = f"; or run 'apt-get install {_APT_PACKAGES[name]}'" if name in _APT_PACKAGES else ""
    raise MissingDataError(
        f"{name} {split} files not found: {', '.join(missing)}; looked in {_looked(roots)}; "
        f"{failure}; provide them with --data-dir DIR (files in DIR or DIR/{name}/), "
        f"CNNKIT_DATA=DIR, or by copying them into {user_cache_dir() / name}{apt}; "
        f"fetch by hand from {urls}"
    )


def _has_subdirs(directory: Path) -> bool:
    try:
        return directory.is_dir() and any(p.is_dir() for p in directory.iterdir())
    except OSError:
        return False


def _caltech_in(root: SearchRoot) -> Path | None:
    if root.path.name == _CALTECH_DIR and _has_subdirs(root.path):
        return root.path
    for directory in [*_dataset_dirs(root, "caltech101"), root.path]:
        for candidate in (directory / _CALTECH_DIR, directory / "caltech-101" / _CALTECH_DIR):
            if _has_subdirs(candidate):
                return candidate
    return None


def _caltech_archive_in(root: SearchRoot) -> Path | None:
    for directory in [*_dataset_dirs(root, "caltech101"), root.path]:
        for archive in _CALTECH_ARCHIVES:
            if (directory / archive).is_file():
                return directory / archive
    return None


def _unpack_caltech(archive: Path, cache: Path) -> Path:
    """Unpack an archive holding 101_ObjectCategories (possibly inside an inner .tar.gz) into the cache.

    The folder is moved into place by one rename, so a half-unpacked tree never looks complete.
    """
    target = cache / _CALTECH_DIR
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".unpack-") as tmp:
        current = archive
        for step in range(3):  # zip -> tar.gz -> folder at most
            out = extract_archive(
                current, Path(tmp) / f"step{step}", max_bytes=_CALTECH_MAX_BYTES, max_members=_CALTECH_MAX_MEMBERS
            )
            folder = next((p for p in out.rglob(_CALTECH_DIR) if p.is_dir()), None)
            if folder is not None:
                if not target.exists():
                    os.replace(folder, target)
                return target
            current = next((p for p in out.rglob(f"{_CALTECH_DIR}.tar.gz") if p.is_file()), None)
            if current is None:
                break
    raise CorruptDataError(
        f"archive '{archive}' holds no {_CALTECH_DIR} folder; delete it and download "
        f"{CALTECH101_REMOTES[0].url} again"
    )


def locate_caltech101(data_dir: str | os.PathLike[str] | None = None, *, download_ok: bool = True) -> Path:
    """Find Caltech-101's ``101_ObjectCategories`` folder, unpacking or downloading it into the cache."""
    roots = search_roots(data_dir)
    for root in roots:
        found = _caltech_in(root)
        if found is not None:
            return found
    cache = user_cache_dir() / "caltech101"
    for root in roots:
        archive = _caltech_archive_in(root)
        if archive is not None:
            return _unpack_caltech(archive, cache)
    failure = "downloading is off (download=False)"
    if download_ok:
        try:
            archive = download(CALTECH101_REMOTES, cache)
        except MissingDataError as e:
            failure = str(e)
        else:
            target = _unpack_caltech(archive, cache)
            archive.unlink(missing_ok=True)
            return target
    raise MissingDataError(
        f"caltech101 files not found: {_CALTECH_DIR}/ (or {' or '.join(_CALTECH_ARCHIVES)}); "
        f"looked in {_looked(roots)}; {failure}; provide them with --data-dir DIR holding "
        f"{_CALTECH_DIR}/ or one of those archives, CNNKIT_DATA=DIR, or by copying them into {cache}; "
        f"fetch by hand from {CALTECH101_REMOTES[0].url}"
    )


def _imagenet_in(root: Path) -> Path | None:
    kaggle = Path("ILSVRC", "Data", "CLS-LOC")
    candidates = [root, root / kaggle]
    for alias in _DIR_ALIASES["imagenet"]:
        candidates += [root / alias, root / alias / kaggle]
    for candidate in candidates:
        if (candidate / "train").is_dir() or (candidate / "val").is_dir():
            return candidate
    return None


def locate_imagenet(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Find the ILSVRC-2012 folder holding ``train/`` and/or ``val/``; it is never downloaded."""
    roots = search_roots(data_dir)
    for root in roots:
        found = _imagenet_in(root.path)
        if found is not None:
            return found
    raise MissingDataError(
        f"imagenet files not found: train/<wnid>/*.JPEG and val/; looked in {_looked(roots)}; "
        f"ImageNet cannot be downloaded automatically (image-net.org requires registration); get "
        f"ILSVRC-2012 from image-net.org or Kaggle's imagenet-object-localization-challenge and "
        f"pass --data-dir DIR (DIR/train, DIR/val, or Kaggle's DIR/ILSVRC/Data/CLS-LOC) or set "
        f"CNNKIT_DATA=DIR"
    )


def locate_folder(data_dir: str | os.PathLike[str] | None) -> Path:
    """The root of a generic ``class/image`` folder dataset, which only ``data_dir`` can name."""
    if data_dir is None:
        raise MissingDataError(
            "dataset 'folder' needs --data-dir DIR, a folder of <class>/<image> files or of "
            "train/<class>/ and test/<class>/"
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise MissingDataError(
            f"image folder '{path}' does not exist; give --data-dir a folder of <class>/<image> files"
        )
    return path
