"""Search order, missing-file messages, verified atomic downloads and safe unpacking."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import cnnkit.data.sources as sources
from cnnkit.data.fetch import Remote, download
from cnnkit.data.extract import extract_archive
from cnnkit.data.idx import read_idx
from cnnkit.data.sources import (
    locate_caltech101,
    locate_idx,
    locate_imagenet,
    search_roots,
    user_cache_dir,
)
from cnnkit.errors import CorruptDataError, MissingDataError


def _labels_of(paths: dict[str, Path]) -> np.ndarray:
    return read_idx(paths["labels"])


# ---------------------------------------------------------------- search order


def test_user_cache_dir_prefers_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "cnnkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "cnnkit"


def test_search_roots_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path) -> None:
    monkeypatch.setenv("CNNKIT_DATA", f"{tmp_path / 'env1'}:{tmp_path / 'env2'}")
    monkeypatch.setattr(sources, "SYSTEM_LOCATIONS", [tmp_path / "sys"])
    roots = search_roots(tmp_path / "explicit")
    assert [r.path for r in roots] == [
        tmp_path / "explicit",
        tmp_path / "env1",
        tmp_path / "env2",
        isolated,
        tmp_path / "sys",
    ]
    assert [r.origin for r in roots] == ["--data-dir", "$CNNKIT_DATA", "$CNNKIT_DATA", "cache", "system"]


def test_first_place_with_the_files_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path, make_idx_split: Callable
) -> None:
    places = {
        "explicit": tmp_path / "explicit",
        "env": tmp_path / "env",
        "cache": isolated,
        "system": tmp_path / "sys",
    }
    expected = {
        key: make_idx_split(root / "mnist", "train", 5 + i, seed=i)[1]
        for i, (key, root) in enumerate(places.items())
    }
    monkeypatch.setenv("CNNKIT_DATA", str(places["env"]))
    monkeypatch.setattr(sources, "SYSTEM_LOCATIONS", [places["system"]])

    for key in places:  # remove the winner each round: the next place must take over
        data_dir = places["explicit"] if key == "explicit" else None
        got = _labels_of(locate_idx("mnist", "train", data_dir=data_dir, download_ok=False))
        np.testing.assert_array_equal(got, expected[key])
        for f in (places[key] / "mnist").iterdir():
            f.unlink()


def test_flat_files_in_data_dir_and_named_system_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_idx_split: Callable
) -> None:
    flat = tmp_path / "fashion-mnist"
    _, labels = make_idx_split(flat, "test", 4, seed=7, compress=False)
    np.testing.assert_array_equal(
        _labels_of(locate_idx("fashion-mnist", "test", data_dir=flat, download_ok=False)), labels
    )
    monkeypatch.setenv("CNNKIT_DATA", str(flat))  # named after the dataset: flat files count
    np.testing.assert_array_equal(_labels_of(locate_idx("fashion-mnist", "test", download_ok=False)), labels)
    # The same loose files must not pass for another dataset of the MNIST family.
    with pytest.raises(MissingDataError):
        locate_idx("mnist", "test", download_ok=False)


def test_torchvision_raw_layout(tmp_path: Path, make_idx_split: Callable) -> None:
    _, labels = make_idx_split(tmp_path / "MNIST" / "raw", "train", 3, seed=2, compress=False)
    got = locate_idx("mnist", "train", data_dir=tmp_path, download_ok=False)
    np.testing.assert_array_equal(_labels_of(got), labels)


def test_missing_files_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path, make_idx_split: Callable
) -> None:
    monkeypatch.setattr(sources, "SYSTEM_LOCATIONS", [tmp_path / "sys"])
    only_images = tmp_path / "partial" / "fashion-mnist"
    make_idx_split(only_images, "train", 3, seed=0)
    (only_images / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingDataError) as info:
        locate_idx("fashion-mnist", "train", data_dir=tmp_path / "partial", download_ok=False)
    message = str(info.value)
    assert "\n" not in message
    assert (
        "train-labels-idx1-ubyte.gz" in message and "train-images-idx3-ubyte.gz" not in message.split(";")[0]
    )
    for text in (
        str(tmp_path / "partial"),
        str(isolated),
        str(tmp_path / "sys"),
        "--data-dir",
        "CNNKIT_DATA",
        "apt-get install dataset-fashion-mnist",
        "download=False",
        "fetch by hand from http://127.0.0.1:9/",
    ):
        assert text in message, text


def test_missing_files_after_failed_download(isolated: Path) -> None:
    with pytest.raises(MissingDataError) as info:
        locate_idx("kmnist", "test")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "download failed from http://127.0.0.1:9/" in message and "\n" not in message
    assert not list(isolated.rglob("*.gz"))


# ---------------------------------------------------------------- downloads


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".")] if directory.exists() else []


def test_download_accepts_matching_checksum(http_root: tuple[Path, str], tmp_path: Path) -> None:
    www, base = http_root
    (www / "a.bin").write_bytes(b"payload" * 1000)
    got = download([Remote(base + "a.bin", sha256=_sha(b"payload" * 1000))], tmp_path / "dl")
    assert got == tmp_path / "dl" / "a.bin" and got.read_bytes() == b"payload" * 1000
    assert not _leftovers(tmp_path / "dl")


def test_download_rejects_wrong_checksum(http_root: tuple[Path, str], tmp_path: Path) -> None:
    www, base = http_root
    (www / "a.bin").write_bytes(b"tampered")
    with pytest.raises(MissingDataError, match="SHA-256") as info:
        download([Remote(base + "a.bin", sha256=_sha(b"original"))], tmp_path / "dl")
    assert base + "a.bin" in str(info.value)
    assert not (tmp_path / "dl" / "a.bin").exists() and not _leftovers(tmp_path / "dl")


def test_download_falls_back_to_next_mirror(http_root: tuple[Path, str], tmp_path: Path) -> None:
    www, base = http_root
    good = b"the real file"
    (www / "bad").mkdir()
    (www / "good").mkdir()
    (www / "bad" / "f.gz").write_bytes(b"an error page")
    (www / "good" / "f.gz").write_bytes(good)
    remotes = [
        Remote(base + "missing/f.gz", sha256=_sha(good)),  # 404
        Remote(base + "bad/f.gz", sha256=_sha(good)),  # wrong bytes
        Remote(base + "good/f.gz", sha256=_sha(good)),
    ]
    got = download(remotes, tmp_path / "dl")
    assert got.read_bytes() == good and not _leftovers(tmp_path / "dl")


def test_download_md5_when_no_sha256(http_root: tuple[Path, str], tmp_path: Path) -> None:
    www, base = http_root
    (www / "z.zip").write_bytes(b"zip bytes")
    with pytest.raises(MissingDataError, match="MD5"):
        download(
            [Remote(base + "z.zip", sha256=None, md5=hashlib.md5(b"other").hexdigest())], tmp_path / "dl"
        )
    ok = download(
        [Remote(base + "z.zip", sha256=None, md5=hashlib.md5(b"zip bytes").hexdigest())], tmp_path / "dl"
    )
    assert ok.read_bytes() == b"zip bytes"


class _ShortHandler(http.server.BaseHTTPRequestHandler):
    """Promises 1000 bytes, sends 10, hangs up: a dropped connection."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_download_truncated_transfer_leaves_nothing(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShortHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/f.gz"
        with pytest.raises(MissingDataError, match="f.gz"):
            download([Remote(url, sha256=None)], tmp_path / "dl")
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "dl" / "f.gz").exists() and not _leftovers(tmp_path / "dl")


def test_locate_idx_downloads_into_cache_and_verifies(
    monkeypatch: pytest.MonkeyPatch, http_root: tuple[Path, str], isolated: Path, make_idx_split: Callable
) -> None:
    www, base = http_root
    images, labels = make_idx_split(www / "mirror", "test", 6, seed=4)
    remotes = {}
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        digest = _sha((www / "mirror" / f).read_bytes())
        remotes[f] = (Remote(base + "dead/" + f, sha256=digest), Remote(base + "mirror/" + f, sha256=digest))
    monkeypatch.setitem(sources.IDX_REMOTES, "mnist", remotes)
    paths = locate_idx("mnist", "test")
    assert paths["images"].parent == isolated / "mnist"
    np.testing.assert_array_equal(read_idx(paths["images"]), images)
    np.testing.assert_array_equal(read_idx(paths["labels"]), labels)


# ---------------------------------------------------------------- archives


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_extract_refuses_path_traversal(tmp_path: Path) -> None:
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(CorruptDataError, match="outside"):
        extract_archive(evil_zip, tmp_path / "out")
    evil_tar = tmp_path / "evil.tar.gz"
    evil_tar.write_bytes(_tar_gz({"/abs/escape.txt": b"x"}))
    with pytest.raises(CorruptDataError, match="outside"):
        extract_archive(evil_tar, tmp_path / "out2")
    assert not (tmp_path / "escape.txt").exists()


def test_extract_refuses_links(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    (tmp_path / "l.tar").write_bytes(buffer.getvalue())
    with pytest.raises(CorruptDataError, match="link"):
        extract_archive(tmp_path / "l.tar", tmp_path / "out")


def test_extract_damaged_archive(tmp_path: Path) -> None:
    (tmp_path / "cut.tar.gz").write_bytes(_tar_gz({"a/b.txt": b"x" * 5000})[:40])
    with pytest.raises(CorruptDataError, match="cannot be unpacked"):
        extract_archive(tmp_path / "cut.tar.gz", tmp_path / "out")


def _caltech_zip(tmp_path: Path) -> bytes:
    """An archive shaped like the official caltech-101.zip: a zip holding the image tar.gz."""
    jpg = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(jpg, "JPEG")
    inner = _tar_gz(
        {
            f"101_ObjectCategories/{c}/image_000{i}.jpg": jpg.getvalue()
            for c in ("accordion", "BACKGROUND_Google")
            for i in range(1, 4)
        }
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("caltech-101/101_ObjectCategories.tar.gz", inner)
        zf.writestr("caltech-101/show_annotation.m", "% matlab")
    return buffer.getvalue()


def test_caltech_found_in_data_dir(tmp_path: Path, write_image: Callable) -> None:
    categories = tmp_path / "cal" / "caltech-101" / "101_ObjectCategories"
    write_image(categories / "accordion" / "image_0001.jpg", (1, 2, 3))
    assert locate_caltech101(tmp_path / "cal", download_ok=False) == categories
    assert locate_caltech101(categories, download_ok=False) == categories


def test_caltech_archive_unpacked_into_cache(tmp_path: Path, isolated: Path) -> None:
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "caltech-101.zip").write_bytes(_caltech_zip(tmp_path))
    found = locate_caltech101(tmp_path / "dl", download_ok=False)
    assert found == isolated / "caltech101" / "101_ObjectCategories"
    assert sorted(p.name for p in found.iterdir()) == ["BACKGROUND_Google", "accordion"]
    assert not [p for p in found.parent.iterdir() if p.name.startswith(".unpack")]


def test_caltech_download(
    monkeypatch: pytest.MonkeyPatch, http_root: tuple[Path, str], isolated: Path
) -> None:
    www, base = http_root
    data = _caltech_zip(www)
    (www / "caltech-101.zip").write_bytes(data)
    monkeypatch.setattr(
        sources,
        "CALTECH101_REMOTES",
        (
            Remote(base + "gone/caltech-101.zip", sha256=None, md5="0" * 32),
            Remote(base + "caltech-101.zip", sha256=None, md5=hashlib.md5(data).hexdigest()),
        ),
    )
    found = locate_caltech101()
    assert (found / "accordion" / "image_0001.jpg").is_file()
    assert not (isolated / "caltech101" / "caltech-101.zip").exists()  # archive removed once unpacked


def test_caltech_missing_message(isolated: Path) -> None:
    with pytest.raises(MissingDataError) as info:
        locate_caltech101()
    message = str(info.value)
    assert "101_ObjectCategories" in message and "download failed" in message and "\n" not in message
    assert "fetch by hand from http://127.0.0.1:9/caltech-101.zip" in message


def test_imagenet_never_downloads(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="cannot be downloaded automatically"):
        locate_imagenet(tmp_path)
    (tmp_path / "ILSVRC" / "Data" / "CLS-LOC" / "val").mkdir(parents=True)
    assert locate_imagenet(tmp_path) == tmp_path / "ILSVRC" / "Data" / "CLS-LOC"


def test_real_checksums_are_well_formed() -> None:
    from cnnkit.data import remotes

    for files in remotes.IDX_REMOTES.values():
        assert len(files) == 4
        for rs in files.values():
            assert len({r.sha256 for r in rs}) == 1 and len(rs[0].sha256 or "") == 64
    assert all(r.sha256 or r.md5 for r in remotes.CALTECH101_REMOTES)


def test_gzip_module_roundtrip_sanity(tmp_path: Path, make_idx_split: Callable) -> None:
    # write_idx output is what Debian/official sites serve: a gzip stream of the IDX bytes.
    make_idx_split(tmp_path, "train", 2, seed=0)
    assert gzip.decompress((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes())[:4] == b"\x00\x00\x08\x01"


def test_missing_message_omits_files_fetched_before_failure(
    monkeypatch: pytest.MonkeyPatch, http_root: tuple[Path, str], make_idx_split: Callable
) -> None:
    www, base = http_root
    make_idx_split(www, "train", 3, seed=0)
    images = "train-images-idx3-ubyte.gz"
    remotes = {
        images: (Remote(base + images, sha256=_sha((www / images).read_bytes())),),
        "train-labels-idx1-ubyte.gz": (Remote(base + "gone.gz", sha256="0" * 64),),
    }
    monkeypatch.setitem(sources.IDX_REMOTES, "mnist", remotes)
    with pytest.raises(MissingDataError) as info:
        locate_idx("mnist", "train")
    head = str(info.value).split(";")[0]
    assert head == "mnist train files not found: train-labels-idx1-ubyte.gz"
