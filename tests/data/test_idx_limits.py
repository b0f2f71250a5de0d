"""IDX headers are claims: empty datasets, counts that disagree with the stream, gzip bombs.

Every file is built here with ``struct`` and ``gzip``, independent of cnnkit's writer.
Memory is measured with tracemalloc, which sees NumPy's and bytearray's allocations.
"""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import cnnkit.data.idx as idx
from cnnkit.cli.main import main
from cnnkit.data.catalog import load_dataset
from cnnkit.data.idx import read_idx
from cnnkit.errors import CorruptDataError


def _header(code: int, *shape: int) -> bytes:
    return struct.pack(f">HBB{len(shape)}I", 0, code, len(shape), *shape)


def _gzip_stream(path: Path, head: bytes, zeros: int) -> Path:
    """A gzip file of ``head`` then ``zeros`` zero bytes, written in pieces (never whole in memory)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1) as gz:
        gz.write(head)
        piece = bytes(1 << 20)
        while zeros > 0:
            gz.write(piece[:zeros])
            zeros -= len(piece)
    return path


def _refused(path: Path, match: str, **kw: int) -> str:
    with pytest.raises(CorruptDataError, match=match) as info:
        read_idx(path, **kw)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def _peak(call: Callable[[], object]) -> int:
    """Bytes allocated at the peak of ``call()``."""
    tracemalloc.start()
    try:
        call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("shape", [(0, 28, 28), (0,), (3, 0)])
def test_empty_idx_is_refused_naming_the_file(tmp_path: Path, compress: bool, shape: tuple[int, ...]) -> None:
    data = _header(0x08, *shape)
    path = tmp_path / "empty-idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    assert "holds no values" in _refused(path, "empty dataset")
    got = read_idx(path, allow_empty=True)  # the format allows it; a caller may too
    assert got.shape == shape and got.dtype == np.uint8


def test_empty_mnist_split_is_refused_by_load_dataset(tmp_path: Path) -> None:
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_header(0x08, 0, 28, 28)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_header(0x08, 0)))
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte.gz.*empty dataset"):
        load_dataset("mnist", "train", data_dir=tmp_path, download=False)


def test_cli_train_on_empty_mnist_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix the training loop divided by zero images seen (a ZeroDivisionError traceback).
    data = tmp_path / "data"
    data.mkdir()
    for prefix in ("train", "t10k"):
        (data / f"{prefix}-images-idx3-ubyte").write_bytes(_header(0x08, 0, 28, 28))
        (data / f"{prefix}-labels-idx1-ubyte").write_bytes(_header(0x08, 0))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", "mnist", "--data-dir", str(data), "--epochs", "1"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2
    assert err.startswith("cnnkit: error: ") and "\n" not in err and "train-images-idx3-ubyte" in err
    # The data are read before the run directory is made, so nothing is left behind.
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_gzip_claiming_a_million_images_holding_a_few_mb(tmp_path: Path) -> None:
    # 10**6 x 28 x 28 = 784 MB claimed, under MAX_IDX_BYTES, but only 3 MB present: the
    # reader stops at the stream's end instead of allocating or decompressing the claim.
    path = _gzip_stream(tmp_path / "claim.gz", _header(0x08, 10**6, 28, 28), 3 << 20)
    expected = 16 + 10**6 * 28 * 28
    peak = _peak(lambda: _refused(path, f"truncated: {16 + (3 << 20)} bytes .* needs {expected}"))
    assert peak < 64 << 20


def test_gzip_padded_with_gigabytes_is_not_decompressed_whole(tmp_path: Path) -> None:
    # The memory bomb of issue 12 in small: 10 images declared, 32 MB of zeros behind them.
    path = _gzip_stream(tmp_path / "padded.gz", _header(0x08, 10, 28, 28), 10 * 784 + (32 << 20))
    peak = _peak(lambda: _refused(path, f"longer than its header says: more than {16 + 7840} bytes"))
    assert peak < 4 << 20  # at most the declared 7,840 bytes and one more are ever decompressed


def test_claim_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = _gzip_stream(tmp_path / "big.gz", _header(0x08, 60000, 28, 28), 60000 * 784)
    assert "47,040,000 bytes" in _refused(path, "more than the 1,000,000 an IDX file may hold", max_bytes=10**6)
    assert read_idx(path).shape == (60000, 28, 28)  # the default limit takes MNIST


def test_raw_file_size_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "claim.idx"
    path.write_bytes(_header(0x08, 10**6, 28, 28) + bytes(1 << 20))
    assert _peak(lambda: _refused(path, f"truncated: {16 + (1 << 20)} bytes")) < 1 << 20


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("count, present", [(5, 4), (5, 6), (4, 5)])
def test_count_disagreeing_with_the_stream(tmp_path: Path, compress: bool, count: int, present: int) -> None:
    rng = np.random.default_rng(count * 10 + present)
    data = _header(0x08, count, 28, 28) + rng.integers(0, 256, present * 784, dtype=np.uint8).tobytes()
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(data) if compress else data)
    what = "truncated" if present < count else "longer than its header says"
    message = _refused(path, what)
    assert f"needs {16 + count * 784}" in message  # the header's claim, computed here by hand


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("code, fmt", [(0x08, "B"), (0x0B, "h"), (0x0E, "d")])
def test_chunked_streaming_read_matches_struct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compress: bool, code: int, fmt: str
) -> None:
    # A chunk of 7 bytes splits values across reads; the bytes are swapped in place after.
    monkeypatch.setattr(idx, "_CHUNK", 7)
    values = list(range(-30, 30)) if fmt != "B" else list(range(60))
    data = _header(code, 3, 4, 5) + struct.pack(f">{len(values)}{fmt}", *values)
    path = tmp_path / "values"
    path.write_bytes(gzip.compress(data) if compress else data)
    got = read_idx(path)
    assert got.shape == (3, 4, 5) and got.dtype.isnative and got.flags.writeable
    assert got.reshape(-1).tolist() == values
