"""Safe unpacking of downloaded zip and tar archives.

Archive member names are untrusted: ``../../.bashrc`` or ``/etc/passwd`` would write outside
the target folder (the "zip slip" path traversal). Every member is checked before anything
is written, links and device files are refused, and the archive type is detected from its
first bytes rather than its name.

Sizes are untrusted too: a 9 MB tar.gz of zeros unpacks to gigabytes (an archive bomb). The
members' declared sizes and their number are summed against limits before anything is
written, and zip members, whose declared size is only a claim, are counted again while
being written. Everything is unpacked into a hidden temporary folder beside ``dest`` that is
renamed into place only when complete, so a refused or failed archive leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cnnkit.errors import CorruptDataError, OutputError
from cnnkit.files import GIB, MIB, check_regular_file

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_MEMBERS", "extract_archive"]

# Generous for any dataset cnnkit unpacks (Caltech-101: about 150 MB and 9,300 members);
# callers that know their archive pass tighter limits (sources.py does for Caltech-101).
DEFAULT_MAX_BYTES = 2 * GIB
DEFAULT_MAX_MEMBERS = 100_000
_CHUNK = 1 * MIB
# What a damaged archive raises; zipfile adds NotImplementedError (unknown compression) and
# RuntimeError (encryption).
_DAMAGED = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError, NotImplementedError, RuntimeError)


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


def _too_large(archive: Path, what: str, limit: str) -> CorruptDataError:
    return CorruptDataError(
        f"archive '{archive}' would unpack to {what}, more than the {limit} allowed for it (an archive "
        f"bomb or the wrong file); nothing was unpacked, delete it and download it again from the "
        f"official address"
    )


def _check_totals(archive: Path, sizes: list[int], max_bytes: int, max_members: int) -> None:
    """Refuse before writing anything when the declared sizes or the member count exceed the limits."""
    if len(sizes) > max_members:
        raise _too_large(archive, f"more than {max_members:,} members", f"{max_members:,} members")
    if sum(sizes) > max_bytes:
        raise _too_large(archive, f"at least {sum(sizes):,} bytes", f"{max_bytes:,} bytes")


def _open(archive: Path) -> BinaryIO:
    """``archive`` opened for reading if it is a regular file: non-blocking, so a FIFO cannot hang."""
    check_regular_file(archive, what="archive", error=CorruptDataError)  # the one-line messages
    f = os.fdopen(os.open(archive, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)), "rb")
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the check above
        f.close()
        raise CorruptDataError(f"archive '{archive}' is not a regular file; give a regular file")
    return f


def _copy_counted(source: BinaryIO, target: Path, written: int, max_bytes: int, archive: Path) -> int:
    """Copy one member's bytes into ``target``; the running total, refused past ``max_bytes``."""
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes:  # a size field that lied
                raise _too_large(archive, f"more than {max_bytes:,} bytes", f"{max_bytes:,} bytes")
            out.write(chunk)
    return written


def _extract_zip(f: BinaryIO, archive: Path, dest: Path, max_bytes: int, max_members: int) -> None:
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        for info in infos:
            if _unsafe(info.filename):
                raise _refuse(archive, info.filename, "would be written outside the target folder")
            mode = info.external_attr >> 16
            if mode and (mode & 0o170000) not in (0, 0o100000, 0o040000):
                raise _refuse(archive, info.filename, "is a link or device, not a file")
        _check_totals(archive, [i.file_size for i in infos], max_bytes, max_members)
        written = 0
        for info in infos:
            parts = [p for p in PurePosixPath(info.filename.replace("\\", "/")).parts if p not in ("", ".")]
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source:
                written = _copy_counted(source, target, written, max_bytes, archive)


def _extract_tar(f: BinaryIO, archive: Path, dest: Path, max_bytes: int, max_members: int) -> None:
    with tarfile.open(fileobj=f, mode="r:*") as tf:
        members: list[tarfile.TarInfo] = []
        sizes: list[int] = []
        # Member by member, not getmembers(): the limits stop a bomb at the first header past them,
        # before the stream behind it is decompressed. Tar sizes are exact: tarfile writes no more.
        for m in tf:
            if _unsafe(m.name):
                raise _refuse(archive, m.name, "would be written outside the target folder")
            if not (m.isfile() or m.isdir()):
                raise _refuse(archive, m.name, "is a link or device, not a file")
            members.append(m)
            sizes.append(m.size if m.isfile() else 0)
            _check_totals(archive, sizes, max_bytes, max_members)
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # Python < 3.11.4: members were checked above
            tf.extractall(dest, members=members)


def _move_into(tmp: Path, dest: Path) -> None:
    """Put the unpacked tree at ``dest``: one rename, or one per top-level entry if ``dest`` has files."""
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"'{dest}' is a file; unpack into a folder")
    if not dest.exists() or not any(dest.iterdir()):
        os.replace(tmp, dest)  # rename(2) replaces an empty folder
        return
    entries = list(tmp.iterdir())
    clash = next((e.name for e in entries if (dest / e.name).exists()), None)
    if clash is not None:
        raise OutputError(f"'{dest / clash}' already exists; remove it or unpack into an empty folder")
    for entry in entries:
        os.replace(entry, dest / entry.name)
    tmp.rmdir()


def extract_archive(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Path:
    """Unpack a zip, tar, or gzip/bzip2/xz tar into ``dest`` after checking every member's name and size.

    At most ``max_bytes`` in at most ``max_members`` members; on any failure nothing appears in ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.unpack-"))
    try:
        with _open(archive) as f:
            extract = _extract_zip if f.read(4).startswith(b"PK") else _extract_tar
            f.seek(0)
            extract(f, archive, tmp, max_bytes, max_members)
        _move_into(tmp, dest)
    except (CorruptDataError, OutputError):
        raise
    except _DAMAGED as e:
        raise CorruptDataError(
            f"archive '{archive}' cannot be unpacked ({e}); delete it and download it again"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a rename
    return dest
