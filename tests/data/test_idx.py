"""IDX reading and writing against a hand-rolled struct reference, and every kind of damage."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnkit.data.idx import read_idx, write_idx
from cnnkit.errors import ConfigError, CorruptDataError, MissingDataError

_REF_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}
_REF_FORMATS = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}


def reference_bytes(array: np.ndarray) -> bytes:
    """IDX bytes built value by value with struct, independent of cnnkit."""
    code = _REF_CODES[array.dtype.type]
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    fmt = ">" + _REF_FORMATS[code] * array.size
    return head + struct.pack(fmt, *array.reshape(-1).tolist())


def reference_parse(data: bytes) -> tuple[tuple[int, ...], list]:
    code, ndim = data[2], data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    count = int(np.prod(shape))
    values = struct.unpack(">" + _REF_FORMATS[code] * count, data[4 + 4 * ndim :])
    return tuple(shape), list(values)


def sample(dtype: type, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", list(_REF_CODES))
@pytest.mark.parametrize("compress", [True, False])
def test_read_matches_reference_bytes(tmp_path: Path, dtype: type, compress: bool) -> None:
    array = sample(dtype, (3, 4, 5))
    data = reference_bytes(array)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)
    assert got.flags.writeable


@pytest.mark.parametrize("dtype", list(_REF_CODES))
@pytest.mark.parametrize("shape", [(7,), (2, 3), (2, 1, 3, 2), (0, 5)])
def test_write_parses_with_reference(tmp_path: Path, dtype: type, shape: tuple[int, ...]) -> None:
    array = sample(dtype, shape, seed=1)
    path = write_idx(tmp_path / "a.idx", array, compress=False)
    ref_shape, values = reference_parse(path.read_bytes())
    assert ref_shape == shape
    np.testing.assert_array_equal(np.array(values, dtype=dtype).reshape(shape), array)
    gz = write_idx(tmp_path / "a.idx.gz", array, compress=True)
    assert gzip.decompress(gz.read_bytes()) == path.read_bytes()
    np.testing.assert_array_equal(read_idx(gz, allow_empty=0 in shape), array)


def test_gzip_detected_by_magic_not_suffix(tmp_path: Path) -> None:
    array = sample(np.uint8, (4, 2))
    raw_named_gz = write_idx(tmp_path / "raw.gz", array, compress=False)
    gz_named_raw = write_idx(tmp_path / "compressed.idx", array, compress=True)
    assert gz_named_raw.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)


def test_write_is_deterministic(tmp_path: Path) -> None:
    array = sample(np.int16, (3, 3))
    a = write_idx(tmp_path / "a.gz", array, compress=True).read_bytes()
    b = write_idx(tmp_path / "b.gz", array, compress=True).read_bytes()
    assert a == b


def test_write_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="float16"):
        write_idx(tmp_path / "h.idx", np.zeros(3, np.float16), compress=False)
    assert not (tmp_path / "h.idx").exists()


def _valid(tmp_path: Path) -> bytes:
    return reference_bytes(sample(np.uint8, (4, 3, 3)))


def _expect_corrupt(path: Path, match: str) -> CorruptDataError:
    with pytest.raises(CorruptDataError, match=match) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return info.value


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(_valid(tmp_path))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    err = _expect_corrupt(path, "gzip")
    assert "download it again" in str(err)


def test_corrupt_gzip_stream(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(_valid(tmp_path)))
    data[12:20] = b"\xff" * 8
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(data))
    _expect_corrupt(path, "gzip")


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "magic.idx"
    path.write_bytes(b"\x12\x34" + _valid(tmp_path)[2:])
    _expect_corrupt(path, "not an IDX file")


def test_wrong_dtype_code(tmp_path: Path) -> None:
    data = bytearray(_valid(tmp_path))
    data[2] = 0x0A
    path = tmp_path / "code.idx"
    path.write_bytes(bytes(data))
    _expect_corrupt(path, "dtype code 0x0a")


@pytest.mark.parametrize("cut", [0, 3, 9, 10, -1])
def test_short_files(tmp_path: Path, cut: int) -> None:
    data = _valid(tmp_path)
    path = tmp_path / "short.idx"
    path.write_bytes(data[:cut])
    _expect_corrupt(path, "short|truncated")


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long.idx"
    path.write_bytes(_valid(tmp_path) + b"\x00")
    _expect_corrupt(path, "longer than its header")


def test_zero_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "scalar.idx"
    path.write_bytes(b"\x00\x00\x08\x00\x05")
    _expect_corrupt(path, "0 dimensions")


@pytest.mark.parametrize("ndim", [33, 65, 255])
def test_more_dimensions_than_numpy_allows(tmp_path: Path, ndim: int) -> None:
    # Found by tests/data/test_fuzz.py: 00 00 08 41 and 65 zero dimensions raised NumPy's
    # ValueError ("maximum supported dimension ... is 64") instead of CorruptDataError.
    path = tmp_path / "deep.idx"
    path.write_bytes(b"\x00\x00\x08" + bytes([ndim]) + b"\x00" * (4 * ndim))
    _expect_corrupt(path, f"declares {ndim} dimensions")
    path.write_bytes(b"\x00\x00\x08" + bytes([ndim]) + struct.pack(f">{ndim}I", *[1] * ndim) + b"\x07")
    _expect_corrupt(path, f"declares {ndim} dimensions")


@pytest.mark.parametrize("code, shape", [(0x08, (2**32 - 1, 2**32 - 1, 0)), (0x0E, (0, 2**31, 2**31))])
def test_shape_too_large_for_numpy(tmp_path: Path, code: int, shape: tuple[int, ...]) -> None:
    # Found by tests/data/test_fuzz.py: 00 00 08 03 ff ff ff ff ff ff ff ff 00 00 00 00 is a
    # complete file for an empty array, but NumPy raised ValueError on its shape.
    path = tmp_path / "empty.idx"
    path.write_bytes(struct.pack(f">HBB{len(shape)}I", 0, code, len(shape), *shape))
    _expect_corrupt(path, "too large for any array")


@pytest.mark.parametrize("compress", [False, True])
def test_huge_claim_is_refused_before_allocating(tmp_path: Path, compress: bool) -> None:
    # A 28-byte file claiming 2**31 x 2**31 uint8 values (4 EiB): the claim is compared with
    # the bytes present before NumPy is asked for anything (tracemalloc sees NumPy's memory).
    data = struct.pack(">HBB2I", 0, 0x08, 2, 2**31, 2**31) + bytes(16)
    path = tmp_path / "huge.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    tracemalloc.start()
    try:
        # Raw: the file's size disagrees first; gzip: the claim is over MAX_IDX_BYTES before a byte is read.
        _expect_corrupt(path, "more than the .* an IDX file may hold" if compress else "truncated")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_write_rejects_more_dimensions_than_read_accepts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="1 to 32 dimensions"):
        write_idx(tmp_path / "deep.idx", np.zeros((1,) * 33, np.uint8), compress=False)
    ones = np.ones((1,) * 32, np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "ok.idx", ones, compress=False)), ones)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(MissingDataError, match="directory"):
        read_idx(tmp_path)


_SEED = reference_bytes(sample(np.int16, (2, 3, 2), seed=3))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda i, b: _SEED[:i] + b + _SEED[i + len(b) :],
            st.integers(0, len(_SEED)),
            st.binary(min_size=1, max_size=4),
        ),
        st.builds(lambda i: _SEED[:i], st.integers(0, len(_SEED))),
    ),
    compress=st.booleans(),
    cut=st.integers(0, 40),
)
def test_fuzz_raises_only_corrupt_data_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, compress: bool, cut: int
) -> None:
    blob = gzip.compress(data, mtime=0) if compress else data
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(blob[: len(blob) - cut] if compress else blob)
    try:
        array = read_idx(path)
    except CorruptDataError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(array, np.ndarray) and array.ndim >= 1
    assert not compress or cut == 0  # a gzip stream missing its tail never parses


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_gzip_magic_then_garbage(tmp_path_factory: pytest.TempPathFactory, blob: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(b"\x1f\x8b" + blob)
    with pytest.raises(CorruptDataError):
        read_idx(path)
