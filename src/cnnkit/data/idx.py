"""The IDX file format of MNIST and its drop-in replacements (LeCun et al., 1998).

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the values in C order, big-endian. Files are usually
gzip-compressed; compression is detected by the gzip magic bytes ``1f 8b``, never by the
file name, because downloaders and distributions rename files freely.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from cnnkit.atomic import atomic_write
from cnnkit.errors import ConfigError, CorruptDataError, MissingDataError

__all__ = ["IDX_DTYPES", "parse_idx", "read_idx", "write_idx"]

# IDX dtype code -> numpy dtype as stored (big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# The header allows 255 dimensions, NumPy fewer: 32 in NumPy 1.x, 64 in 2.x.
_MAX_NDIM = 32


def _fix(path: str) -> str:
    return f"delete '{path}' and download it again, or point --data-dir at an intact copy"


def _read_bytes(path: Path) -> bytes:
    """Return the file's bytes, gunzipped when it starts with the gzip magic."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingDataError(f"IDX file '{path}' does not exist; check the path") from None
    except IsADirectoryError:
        raise MissingDataError(f"'{path}' is a directory, not an IDX file; give the file itself") from None
    except OSError as e:
        raise MissingDataError(
            f"cannot read IDX file '{path}': {e.strerror}; check its permissions"
        ) from None
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise CorruptDataError(
            f"'{path}' is a damaged gzip file ({e or 'truncated'}); {_fix(str(path))}"
        ) from None


def parse_idx(data: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes into a native-endian array (LeCun et al., 1998: IDX format)."""
    if len(data) < 4:
        raise CorruptDataError(
            f"'{source}' has {len(data)} bytes, too short for an IDX header; {_fix(source)}"
        )
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise CorruptDataError(
            f"'{source}' is not an IDX file: it starts with {data[:2].hex(' ')} instead of 00 00; "
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
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(
            f"'{source}' is truncated inside its header ({len(data)} of {header} bytes); {_fix(source)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    # NumPy refuses a shape whose non-zero dimensions span more bytes than an intp counts,
    # even when another dimension is 0 and the array would be empty.
    if math.prod(d for d in shape if d) * dtype.itemsize > np.iinfo(np.intp).max:
        raise CorruptDataError(
            f"'{source}' declares shape {shape}, too large for any array; {_fix(source)}"
        )
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise CorruptDataError(
            f"'{source}' is {what}: {len(data)} bytes where shape {shape} of {dtype.name} "
            f"needs {expected}; {_fix(source)}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    # A copy: writable (torch.from_numpy warns on read-only memory) and native byte order.
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (LeCun et al., 1998: IDX format)."""
    path = Path(path)
    return parse_idx(_read_bytes(path), source=str(path))


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
