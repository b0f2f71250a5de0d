"""Fuzzing the IDX reader and the image loader with random and damaged bytes (hypothesis).

Each test feeds a reader either wholly random bytes or a valid file, made in memory, that
is then damaged: bits flipped, bytes overwritten, inserted or deleted, the file cut short,
a header field set to 0, 2**31 or 2**32 - 1. The property is the contract of errors.py:
the call returns a well-formed result, checked against the bytes it was given, or it raises
a ``CnnkitError`` with a one-line message naming the file. Any other exception, a hang or
a huge allocation is a bug in cnnkit. A hang trips an alarm after 30 s; a huge allocation
shows as a MemoryError or a killed run, and for images as a decoded picture over Pillow's
decompression-bomb limit, lowered here to 256 pixels so that the seed images straddle it.
The fixed inputs behind each bug this found are regression tests in test_idx.py and
test_images.py.

How many cases run comes from the Hypothesis profile loaded in tests/conftest.py: "ci" by
default, ``HYPOTHESIS_PROFILE=fuzz`` for a long local run.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import signal
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from cnnkit.data.catalog import folder_spec
from cnnkit.data.folders import FolderDataset
from cnnkit.data.idx import parse_idx, read_idx, write_idx
from cnnkit.data.images import image_to_tensor, load_image, resize_center_crop
from cnnkit.errors import CnnkitError

# ---------------------------------------------------------------------------------------
# Shared pieces: a scratch folder, a hang guard, the error check and byte mutations.


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the whole module: every case rewrites the same few files."""
    return tmp_path_factory.mktemp("fuzz")


def _put(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new file: on ext4, replacing a file's bytes flushes them to disk
    (auto_da_alloc), which would make file I/O most of every case's time."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    return path


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in cnnkit eats it."""


@contextlib.contextmanager
def _no_hang(seconds: float = 30.0) -> Iterator[None]:
    """Fail a call still running after ``seconds``: the cases are tiny, so that is a hang."""
    if not hasattr(signal, "setitimer"):  # no SIGALRM on Windows: run unguarded
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise _Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_error(error: CnnkitError, name: str) -> None:
    """A user-facing error: one line that names the file."""
    message = str(error)
    assert "\n" not in message, message
    assert name in message, message


# Values that break size arithmetic when written over a 32-bit header field.
_EDGE_U32 = (0, 1, 2, 3, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1)


@st.composite
def _mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes], max_mutations: int = 4) -> bytes:
    """A valid file from ``seeds`` with 1 to ``max_mutations`` random kinds of damage."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(1, max_mutations))):
        n = len(data)
        # Half the damage lands in the first 64 bytes, where the headers are.
        where = draw(st.one_of(st.integers(0, min(n, 64)), st.integers(0, n)))
        kind = draw(st.sampled_from(["flip", "byte", "u32", "insert", "delete", "truncate"]))
        if kind == "flip" and where < n:
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and where < n:
            data[where] = draw(st.integers(0, 255))
        elif kind == "u32":  # both byte orders: IDX and PNG are big-endian, BMP little-endian
            fmt = draw(st.sampled_from([">I", "<I"]))
            data[where : where + 4] = struct.pack(fmt, draw(st.sampled_from(_EDGE_U32)))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[where:]
    return bytes(data)


# ---------------------------------------------------------------------------------------
# IDX: the in-memory parser and the file reader, raw and gzip-compressed.

# IDX dtype code -> (numpy type, struct format), written out again as the reference.
_IDX_TYPES = {
    0x08: (np.uint8, "B"),
    0x09: (np.int8, "b"),
    0x0B: (np.int16, "h"),
    0x0C: (np.int32, "i"),
    0x0D: (np.float32, "f"),
    0x0E: (np.float64, "d"),
}


def _check_idx(data: bytes | None, call: Callable[[], np.ndarray], name: str) -> None:
    """``call()`` decodes the IDX bytes ``data`` exactly, or raises a CnnkitError.

    ``data`` is None where the reference (Python's gzip) cannot decompress the file: then
    the only right answer is an error.
    """
    try:
        with _no_hang():
            array = call()
    except CnnkitError as e:
        _check_error(e, name)
        return
    assert data is not None, "a file Python's gzip rejects was accepted"
    code, ndim = data[2], data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    numpy_type, fmt = _IDX_TYPES[code]
    assert data[:2] == b"\x00\x00"
    assert array.shape == shape
    assert array.dtype == np.dtype(numpy_type) and array.dtype.isnative
    assert array.flags.writeable and array.flags.c_contiguous
    count = math.prod(shape)
    assert len(data) == header + count * struct.calcsize(fmt)
    values = struct.unpack(f">{count}{fmt}", data[header:])
    np.testing.assert_array_equal(array.reshape(-1), np.array(values, dtype=numpy_type))


def _gunzip_reference(blob: bytes) -> bytes | None:
    """What the file holds as IDX bytes: gunzipped if it starts with the gzip magic."""
    if blob[:2] != b"\x1f\x8b":
        return blob
    try:
        return gzip.decompress(blob)
    except Exception:  # noqa: BLE001 - any failure of the reference means "not decodable"
        return None


def _check_idx_everywhere(data: bytes, scratch: Path) -> None:
    """The same IDX bytes through parse_idx, read_idx on a raw file and on a gzip file."""
    _check_idx(data, lambda: parse_idx(data, source="fuzz-bytes"), "fuzz-bytes")
    raw = _put(scratch / "fuzz.idx", data)
    _check_idx(_gunzip_reference(data), lambda: read_idx(raw), str(raw))
    packed = _put(scratch / "fuzz.idx.gz", gzip.compress(data, mtime=0))
    _check_idx(data, lambda: read_idx(packed), str(packed))


@st.composite
def _idx_arrays(draw: st.DrawFn) -> np.ndarray:
    """A small array of any IDX dtype and any bit pattern (NaN and infinity included)."""
    numpy_type, _ = _IDX_TYPES[draw(st.sampled_from(sorted(_IDX_TYPES)))]
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=4)))
    size = math.prod(shape) * np.dtype(numpy_type).itemsize
    raw = draw(st.binary(min_size=size, max_size=size))
    return np.frombuffer(raw, dtype=numpy_type).reshape(shape)


@st.composite
def _idx_claims(draw: st.DrawFn) -> bytes:
    """A well-formed header claiming an edge-case shape, then about as many bytes as it needs."""
    code = draw(st.sampled_from(sorted(_IDX_TYPES)))
    ndim = draw(st.one_of(st.sampled_from([1, 2, 3, 4, 63, 64, 65, 255]), st.integers(1, 255)))
    dims = [draw(st.sampled_from([0, 1, 2, 2**31, 2**32 - 1]))] * ndim
    for _ in range(draw(st.integers(0, 3))):
        dims[draw(st.integers(0, ndim - 1))] = draw(st.sampled_from((*_EDGE_U32, 3, 5, 7)))
    needed = math.prod(dims) * struct.calcsize(_IDX_TYPES[code][1])
    # A claim small enough to meet gets its exact size or one byte off; a huge one gets a few bytes.
    length = max(0, needed + draw(st.sampled_from([0, 0, -1, 1]))) if needed <= 2048 else draw(st.integers(0, 64))
    payload = draw(st.binary(min_size=length, max_size=length))
    return struct.pack(f">HBB{ndim}I", 0, code, ndim, *dims) + payload


# Bytes that start like an IDX file (00 00, then any dtype code and rank) but go on randomly.
_idx_noise = st.builds(
    lambda code, ndim, rest: bytes([0, 0, code, ndim]) + rest,
    st.one_of(st.sampled_from(sorted(_IDX_TYPES)), st.integers(0, 255)),
    st.integers(0, 8),
    st.binary(max_size=128),
)


def _write_seed(path: Path, array: np.ndarray, *, compress: bool) -> bytes:
    """The bytes write_idx writes for ``array``, without its fsync (most of a case's time)."""
    path.unlink(missing_ok=True)  # see _put
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: None)
        return write_idx(path, array, compress=compress).read_bytes()


@given(data=st.one_of(st.binary(max_size=128), _idx_noise))
def test_idx_random_bytes(scratch: Path, data: bytes) -> None:
    _check_idx_everywhere(data, scratch)


@given(data=_idx_claims())
def test_idx_edge_case_shapes(scratch: Path, data: bytes) -> None:
    _check_idx_everywhere(data, scratch)


@given(array=_idx_arrays(), draw=st.data())
def test_idx_mutated_valid_files(scratch: Path, array: np.ndarray, draw: st.DataObject) -> None:
    seed = _write_seed(scratch / "seed.idx", array, compress=False)
    _check_idx(seed, lambda: parse_idx(seed), "<bytes>")  # the undamaged file reads back
    np.testing.assert_array_equal(parse_idx(seed, allow_empty=True), array)
    _check_idx_everywhere(draw.draw(_mutated(st.just(seed)), label="mutated"), scratch)


@given(array=_idx_arrays(), draw=st.data())
def test_idx_mutated_gzip_files(scratch: Path, array: np.ndarray, draw: st.DataObject) -> None:
    seed = _write_seed(scratch / "seed.idx.gz", array, compress=True)
    blob = draw.draw(_mutated(st.just(seed)), label="mutated")
    path = _put(scratch / "fuzz.gz", blob)
    _check_idx(_gunzip_reference(blob), lambda: read_idx(path), str(path))


# ---------------------------------------------------------------------------------------
# Images: load_image, and the resize, crop and tensor steps FolderDataset and predict use.

# Pillow format -> the modes cnnkit should decode from it (each one Pillow can write).
_IMAGE_MODES = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "JPEG": ("L", "RGB", "CMYK"),
    "BMP": ("1", "L", "P", "RGB", "RGBA"),
    "GIF": ("L", "P"),
    "TIFF": ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "F"),
    "WEBP": ("RGB", "RGBA"),
}
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"GIF89a", b"II*\x00", b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBPVP8")

# Pillow's decompression-bomb limit while fuzzing, in pixels: the seed images (up to 24 x 24)
# straddle it, and a damaged header claiming more is refused before any pixel is decoded.
_FUZZ_MAX_PIXELS = 256


@contextlib.contextmanager
def _bomb_limit(pixels: int) -> Iterator[None]:
    """Pillow's decompression-bomb limit lowered for a while.

    Only around decoding: Pillow checks every crop against the limit too, and the crops of
    ``resize_center_crop`` (up to 32 x 32 here) are not decompression bombs.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "MAX_IMAGE_PIXELS", pixels)
        yield


def _pixels(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 2**16, (height, width), dtype=np.uint16))
    if mode == "F":
        return Image.fromarray(rng.standard_normal((height, width)).astype(np.float32), mode="F")
    rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return rgb.quantize(16) if mode == "P" else rgb.convert(mode)


@st.composite
def _image_files(draw: st.DrawFn) -> bytes:
    """A valid image file made with Pillow: any format, mode and size up to 24 x 24."""
    fmt = draw(st.sampled_from(sorted(_IMAGE_MODES)))
    mode = draw(st.sampled_from(_IMAGE_MODES[fmt]))
    width, height, seed = draw(st.integers(1, 24)), draw(st.integers(1, 24)), draw(st.integers(0, 2**32 - 1))
    image = _pixels(mode, width, height, seed)
    options: dict = {}
    if fmt in ("JPEG", "PNG", "WEBP") and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 9))  # orientation; 1..8 are defined
        options["exif"] = exif.tobytes()
    if fmt in ("PNG", "GIF", "TIFF", "WEBP") and draw(st.booleans()):
        options.update(save_all=True, append_images=[_pixels(mode, width, height, seed + 1)])
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


_image_noise = st.one_of(
    st.binary(max_size=256),
    st.builds(lambda magic, rest: magic + rest, st.sampled_from(_MAGIC), st.binary(max_size=256)),
)


def _check_image(path: Path, mode: str, size: int, draft: bool) -> bool:
    """Decode as FolderDataset does: an upright ``mode`` image, then a ``size`` square tensor.

    Returns whether the file decoded; a failure must be a CnnkitError.
    """
    try:
        with _no_hang():
            with _bomb_limit(_FUZZ_MAX_PIXELS):
                image = load_image(path, mode=mode, draft_size=size if draft else None)
            x = image_to_tensor(resize_center_crop(image, size))
    except CnnkitError as e:
        _check_error(e, path.name)
        return False
    assert image.mode == mode
    assert 1 <= image.width and 1 <= image.height
    assert image.width * image.height <= _FUZZ_MAX_PIXELS, f"decoded a {image.size} decompression bomb"
    assert x.dtype == torch.uint8 and x.shape == (len(mode), size, size)
    return True


_decode_options = {
    "mode": st.sampled_from(["RGB", "L"]),
    "size": st.integers(1, 32),
    "draft": st.booleans(),
}


@given(data=_image_noise, **_decode_options)
def test_image_random_bytes(scratch: Path, data: bytes, mode: str, size: int, draft: bool) -> None:
    path = _put(scratch / "noise.png", data)
    _check_image(path, mode, size, draft)


@given(data=_mutated(_image_files()), **_decode_options)
def test_image_mutated_valid_files(scratch: Path, data: bytes, mode: str, size: int, draft: bool) -> None:
    path = _put(scratch / "mutated.img", data)  # Pillow goes by the bytes, never the suffix
    _check_image(path, mode, size, draft)


@given(data=_image_files(), **_decode_options)
def test_image_valid_files_decode(scratch: Path, data: bytes, mode: str, size: int, draft: bool) -> None:
    path = _put(scratch / "valid.img", data)
    with Image.open(io.BytesIO(data)) as image:
        pixels = image.width * image.height
    # An intact file decodes, unless it is over the limit: then it is refused as a bomb.
    assert _check_image(path, mode, size, draft) == (pixels <= _FUZZ_MAX_PIXELS)


@given(files=st.lists(st.one_of(_mutated(_image_files()), _image_files()), min_size=1, max_size=3))
def test_folder_dataset_batches_or_image_error(scratch: Path, files: list[bytes]) -> None:
    paths = [_put(scratch / f"folder{i}.jpg", data) for i, data in enumerate(files)]
    ds = FolderDataset([(p, 0) for p in paths], folder_spec("fuzz", ["a"], 5), image_size=5, num_workers=0)
    try:
        with _no_hang(), _bomb_limit(_FUZZ_MAX_PIXELS):  # the 5 x 5 crops stay below it
            batches = list(ds.batches(2))
    except CnnkitError as e:
        _check_error(e, "folder")
        return
    x = torch.cat([x for x, _ in batches])
    y = torch.cat([y for _, y in batches])
    assert x.dtype == torch.uint8 and x.shape == (len(files), 3, 5, 5)
    assert y.tolist() == [0] * len(files)
