"""The IDX file format of MNIST and its drop-in replacements (LeCun et al., 1998).

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the values in C order, big-endian. Files are usually
gzip-compressed; compression is detected by the gzip magic bytes ``1f 8b``, never by the
file name, because downloaders and distributions rename files freely.

Nothing in a file is trusted: the header is read first, the payload size it implies is
checked against a limit and (for raw files) against the file's size, and then exactly that
many bytes are read from the file or the gzip stream, so a small gzip claiming gigabytes
or holding gigabytes of padding is refused without being decompressed whole.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnkit.atomic import atomic_write
from cnnkit.errors import ConfigError, CorruptDataError, MissingDataError
from cnnkit.files import GIB, MIB, check_regular_file

__all__ = ["IDX_DTYPES", "MAX_IDX_BYTES", "parse_idx", "read_idx", "write_idx"]

# IDX dtype code -> numpy dtype as stored (big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The largest IDX file of any known dataset (EMNIST ByClass training images) holds 549 MB;
# MNIST's holds 47 MB. A header claiming more than this is damage, not data.
MAX_IDX_BYTES = 4 * GIB
_GZIP_MAGIC = b"\x1f\x8b"
# The header allows 255 dimensions, NumPy fewer: 32 in NumPy 1.x, 64 in 2.x.
_MAX_NDIM = 32
_CHUNK = 16 * MIB  # payload bytes read per call: memory grows only with bytes actually present


@dataclass(frozen=True)
class _Header:
    """What an IDX header declares: dtype, shape, its own length and the payload's."""

    dtype: np.dtype
    shape: tuple[int, ...]
    length: int   # bytes, magic and dimensions
    payload: int  # bytes of values that must follow


def _fix(path: str) -> str:
    return f"delete '{path}' and download it again, or point --data-dir at an intact copy"


def _read_upto(stream: BinaryIO, n: int) -> bytearray:
    """Up to ``n`` bytes of ``stream``, fewer only at its end, read in chunks of at most ``_CHUNK``."""
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(min(_CHUNK, n - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def _magic(head: bytes, source: str) -> tuple[int, int]:
    """The dtype code and rank from the first 4 bytes, checked."""
    if len(head) < 4:
        raise CorruptDataError(
            f"'{source}' has {len(head)} bytes, too short for an IDX header; {_fix(source)}"
        )
    zero, code, ndim = struct.unpack(">HBB", head[:4])
    if zero != 0:
        raise CorruptDataError(
            f"'{source}' is not an IDX file: it starts with {head[:2].hex(' ')} instead of 00 00; "
            f"{_fix(source)}"
        )
    if code not in IDX_DTYPES:
        raise CorruptDataError(
            f"'{source}' has unknown IDX dtype code 0x{code:02x} (known: "
            f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}); {_fix(source)}"
        )
    if ndim == 0:
        raise CorruptDataError(f"'{source}' declares 0 dimensions; {_fix(source)}")
    if ndim > _MAX_NDIM:
        raise CorruptDataError(
            f"'{source}' declares {ndim} dimensions, more than the {_MAX_NDIM} an array can have; "
            f"{_fix(source)}"
        )
    return code, ndim


def _header(head: bytes, source: str) -> _Header:
    """Decode and check a complete header: ``head`` holds at least 4 + 4 * ndim bytes if the file does."""
    code, ndim = _magic(head, source)
    length = 4 + 4 * ndim
    if len(head) < length:
        raise CorruptDataError(
            f"'{source}' is truncated inside its header ({len(head)} of {length} bytes); {_fix(source)}"
        )
    shape = struct.unpack(f">{ndim}I", head[4:length])
    dtype = IDX_DTYPES[code]
    # NumPy refuses a shape whose non-zero dimensions span more bytes than an intp counts,
    # even when another dimension is 0 and the array would be empty.
    if math.prod(d for d in shape if d) * dtype.itemsize > np.iinfo(np.intp).max:
        raise CorruptDataError(
            f"'{source}' declares shape {shape}, too large for any array; {_fix(source)}"
        )
    return _Header(dtype, shape, length, math.prod(shape) * dtype.itemsize)


def _check_limit(header: _Header, source: str, max_bytes: int) -> None:
    # Checked before any payload byte is read: a 3 MB gzip may claim (and hold) gigabytes.
    if header.payload > max_bytes:
        raise CorruptDataError(
            f"'{source}' declares shape {header.shape} of {header.dtype.name}, {header.payload:,} bytes, "
            f"more than the {max_bytes:,} an IDX file may hold (a damaged header, or pass a larger "
            f"max_bytes); {_fix(source)}"
        )


def _check_length(header: _Header, length: int, source: str, *, exact: bool = True) -> None:
    """Refuse a file of ``length`` bytes (``exact``: all of it; else: at least) that the header does not fit."""
    expected = header.length + header.payload
    if length != expected:
        what = "truncated" if length < expected else "longer than its header says"
        size = f"{length}" if exact or length < expected else f"more than {expected}"
        raise CorruptDataError(
            f"'{source}' is {what}: {size} bytes where shape {header.shape} of {header.dtype.name} "
            f"needs {expected}; {_fix(source)}"
        )


def _check_not_empty(header: _Header, source: str, allow_empty: bool) -> None:
    # An empty dataset fails far from its cause (a division by zero in mean or batching).
    if not allow_empty and 0 in header.shape:
        raise CorruptDataError(
            f"'{source}' holds no values (shape {header.shape}), an empty dataset; {_fix(source)}"
        )


def _to_native(payload: bytes | bytearray | memoryview, header: _Header, *, copy: bool) -> np.ndarray:
    """The values as a writable native-endian array; without ``copy``, in ``payload``'s own memory."""
    array = np.frombuffer(payload, dtype=header.dtype).reshape(header.shape)
    if copy:  # the caller's bytes may be read-only (torch.from_numpy warns) and stay theirs
        return array.astype(header.dtype.newbyteorder("="), copy=True)
    if not header.dtype.isnative:
        array = array.byteswap(inplace=True).view(header.dtype.newbyteorder())
    return array


def parse_idx(
    data: bytes, *, source: str = "<bytes>", max_bytes: int = MAX_IDX_BYTES, allow_empty: bool = False
) -> np.ndarray:
    """Decode uncompressed IDX bytes into a native-endian array (LeCun et al., 1998: IDX format).

    An array with no values (a 0 dimension) is refused unless ``allow_empty``.
    """
    header = _header(data, source)
    _check_length(header, len(data), source)
    _check_limit(header, source, max_bytes)
    _check_not_empty(header, source, allow_empty)
    return _to_native(memoryview(data)[header.length :], header, copy=True)


def _open(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file: non-blocking, so a FIFO cannot hang."""
    check_regular_file(path, what="IDX file", error=MissingDataError)  # the one-line messages
    try:
        f = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)), "rb")
    except OSError as e:
        raise MissingDataError(f"cannot read IDX file '{path}': {e.strerror}; check its permissions") from None
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the check above
        f.close()
        raise MissingDataError(f"IDX file '{path}' is not a regular file; give a regular file")
    return f


def _read_stream(stream: BinaryIO, source: str, max_bytes: int, allow_empty: bool, size: int | None) -> np.ndarray:
    """Header, then the payload it declares and at most one byte more (``size``: a raw file's length)."""
    head = _read_upto(stream, 4)
    if len(head) == 4:
        head += _read_upto(stream, 4 * head[3])
    header = _header(bytes(head), source)
    if size is not None:  # a raw file: its length is known before a payload byte is read
        _check_length(header, size, source)
    _check_limit(header, source, max_bytes)
    _check_not_empty(header, source, allow_empty)
    payload = _read_upto(stream, header.payload + 1)  # one byte more proves the stream ends there
    _check_length(header, header.length + len(payload), source, exact=size is not None)
    return _to_native(payload, header, copy=False)


def read_idx(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_IDX_BYTES, allow_empty: bool = False
) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, streaming (LeCun et al., 1998: IDX format).

    At most ``max_bytes`` of values are accepted and at most one byte past what the header
    declares is ever read or decompressed. An array with no values is refused unless ``allow_empty``.
    """
    path = Path(path)
    source = str(path)
    with _open(path) as f:
        if f.read(2) != _GZIP_MAGIC:
            f.seek(0)
            try:
                return _read_stream(f, source, max_bytes, allow_empty, os.fstat(f.fileno()).st_size)
            except OSError as e:
                raise MissingDataError(f"cannot read IDX file '{path}': {e.strerror}; check the disk") from None
        f.seek(0)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                return _read_stream(gz, source, max_bytes, allow_empty, None)
        except (OSError, EOFError, zlib.error) as e:
            raise CorruptDataError(
                f"'{path}' is a damaged gzip file ({e or 'truncated'}); {_fix(source)}"
            ) from None


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool) -> Path:
    """Write ``array`` as an IDX file atomically, gzip-compressed if ``compress``."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ConfigError(
            f"IDX cannot store dtype {array.dtype}; convert the array to one of "
            f"uint8, int8, int16, int32, float32, float64"
        )
    if array.ndim == 0 or array.ndim > _MAX_NDIM or max(array.shape) >= 2**32:
        raise ConfigError(
            f"IDX cannot store shape {array.shape}; give 1 to {_MAX_NDIM} dimensions, each below 2**32"
        )
    payload = (
        struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
        + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    )
    path = Path(path)
    with atomic_write(path, "wb") as f:
        if compress:
            # mtime=0 and no file name in the header: the same array gives the same bytes.
            with gzip.GzipFile(filename="", fileobj=f, mode="wb", mtime=0) as gz:
                gz.write(payload)
        else:
            f.write(payload)
    return path
