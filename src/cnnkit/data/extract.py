"""Safe unpacking of downloaded zip and tar archives.

Archive member names are untrusted: ``../../.bashrc`` or ``/etc/passwd`` would write outside
the target folder (the "zip slip" path traversal). Every member is checked before anything
is written, links and device files are refused, and the archive type is detected from its
first bytes rather than its name.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from cnnkit.errors import CorruptDataError

__all__ = ["extract_archive"]


def _unsafe(name: str) -> bool:
    """True for member names that are absolute or climb out of the target folder."""
    normal = name.replace("\\", "/")
    path = PurePosixPath(normal)
    return path.is_absolute() or ".." in path.parts or (len(normal) > 1 and normal[1] == ":")


def _refuse(archive: Path, member: str, why: str) -> CorruptDataError:
    return CorruptDataError(
        f"archive '{archive}' has member '{member}' that {why}; refusing to unpack it, delete the "
        f"archive and download it again from the official address"
    )


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if _unsafe(info.filename):
                raise _refuse(archive, info.filename, "would be written outside the target folder")
            mode = info.external_attr >> 16
            if mode and (mode & 0o170000) not in (0, 0o100000, 0o040000):
                raise _refuse(archive, info.filename, "is a link or device, not a file")
        zf.extractall(dest)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        for m in members:
            if _unsafe(m.name):
                raise _refuse(archive, m.name, "would be written outside the target folder")
            if not (m.isfile() or m.isdir()):
                raise _refuse(archive, m.name, "is a link or device, not a file")
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # Python < 3.11.4: members were checked above
            tf.extractall(dest, members=members)


def extract_archive(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Unpack a zip, tar, or gzip/bzip2/xz tar into ``dest`` after checking every member name."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with open(archive, "rb") as f:
            head = f.read(4)
        if head.startswith(b"PK"):
            _extract_zip(archive, dest)
        else:
            _extract_tar(archive, dest)
    except CorruptDataError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise CorruptDataError(
            f"archive '{archive}' cannot be unpacked ({e}); delete it and download it again"
        ) from None
    return dest
