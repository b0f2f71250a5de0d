"""Verified, atomic downloads from an official address with fallback mirrors.

Each address is tried in turn. The body streams into a temporary file beside its final
name while its SHA-256 (or, where only that is published, MD5) is computed; the file is
renamed into place only when the digest and length match, so a killed process, a dead
link that serves an HTML page, or a truncated transfer never leaves a file that looks
complete. A mismatch discards the temporary file and moves on to the next mirror.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnnkit.atomic import atomic_write
from cnnkit.errors import ConfigError, MissingDataError

__all__ = ["Remote", "download", "file_sha256"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """One address a file can be fetched from, with the digest that proves the copy intact."""

    url: str
    sha256: str | None  # None only where no published SHA-256 exists; see md5
    md5: str | None = None  # checked only when sha256 is None

    @property
    def filename(self) -> str:
        """The file name the download is stored under: the last part of the URL's path."""
        return Path(urllib.parse.urlparse(self.url).path).name


class _Rejected(Exception):
    """A transfer that completed but must not be kept (digest or length mismatch)."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(
    remote: Remote, dest: Path, timeout: float, on_progress: Callable[[int, int | None], None] | None
) -> None:
    request = urllib.request.Request(remote.url, headers={"User-Agent": "cnnkit (python urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        received = 0
        with atomic_write(dest, "wb") as f:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                sha256.update(chunk)
                md5.update(chunk)
                received += len(chunk)
                if on_progress is not None:
                    on_progress(received, total)
            if total is not None and received != total:
                raise _Rejected(f"incomplete: {received} of {total} bytes")
            if remote.sha256 is not None and sha256.hexdigest() != remote.sha256:
                raise _Rejected(f"SHA-256 {sha256.hexdigest()} is not the expected {remote.sha256}")
            if remote.sha256 is None and remote.md5 is not None and md5.hexdigest() != remote.md5:
                raise _Rejected(f"MD5 {md5.hexdigest()} is not the expected {remote.md5}")


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    if isinstance(e, TimeoutError):
        return "timed out"
    return str(e) or type(e).__name__


def download(
    remotes: Sequence[Remote],
    directory: str | os.PathLike[str],
    *,
    timeout: float = 30.0,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Fetch the first remote that answers with an intact file into ``directory``; return its path.

    Raises ``MissingDataError`` naming every address tried and why each failed.
    """
    if not remotes:
        raise ConfigError("download() needs at least one Remote to try")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MissingDataError(
            f"cannot create download folder '{directory}' ({e.strerror}); set CNNKIT_DATA or "
            f"--data-dir to a writable folder"
        ) from None
    failures = []
    for remote in remotes:
        dest = directory / remote.filename
        try:
            _fetch(remote, dest, timeout, on_progress)
            return dest
        except (_Rejected, OSError, http.client.HTTPException, ValueError) as e:
            failures.append(f"{remote.url} ({_reason(e)})")
    raise MissingDataError(f"download failed from {', '.join(failures)}")
