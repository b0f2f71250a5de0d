"""Archive bombs: total size and member count are capped, and a refused archive leaves nothing."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

import cnnkit.data.extract as extract
from cnnkit.data.extract import extract_archive
from cnnkit.errors import CorruptDataError, OutputError


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_nothing_left(dest: Path) -> None:
    """Neither the target nor a hidden temporary folder beside it survives a refusal."""
    assert not dest.exists()
    assert not [p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]


_MEMBERS = {"data/a.bin": b"a" * 600, "data/sub/b.bin": b"b" * 600, "data/c.txt": b"c" * 100}
_PACK = {"tar.gz": _tar_gz, "zip": _zip}


@pytest.mark.parametrize("kind", list(_PACK))
def test_members_within_the_limits_unpack_exactly(tmp_path: Path, kind: str) -> None:
    archive = _PACK[kind](tmp_path / f"ok.{kind}", _MEMBERS)
    dest = extract_archive(archive, tmp_path / "out", max_bytes=1300, max_members=3)  # exactly at both limits
    assert _files(dest) == _MEMBERS


@pytest.mark.parametrize("kind", list(_PACK))
def test_total_size_over_the_limit_is_refused(tmp_path: Path, kind: str) -> None:
    archive = _PACK[kind](tmp_path / f"bomb.{kind}", _MEMBERS)
    dest = tmp_path / "out"
    with pytest.raises(CorruptDataError, match=r"more than the 1,000 bytes allowed") as info:
        extract_archive(archive, dest, max_bytes=1000)
    assert str(archive) in str(info.value) and "\n" not in str(info.value)
    _assert_nothing_left(dest)


@pytest.mark.parametrize("kind", list(_PACK))
def test_too_many_members_is_refused(tmp_path: Path, kind: str) -> None:
    archive = _PACK[kind](tmp_path / f"many.{kind}", {f"m/{i}.txt": b"x" for i in range(5)})
    dest = tmp_path / "out"
    with pytest.raises(CorruptDataError, match=r"more than 3 members"):
        extract_archive(archive, dest, max_members=3)
    _assert_nothing_left(dest)


def test_zip_sizes_are_counted_again_while_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With the declared sizes taken on trust (the check switched off), the running count while
    # writing must still stop the archive, after two members are already on disk, and clean up.
    monkeypatch.setattr(extract, "_check_totals", lambda *args: None)
    archive = _zip(tmp_path / "liar.zip", _MEMBERS)
    dest = tmp_path / "out"
    with pytest.raises(CorruptDataError, match=r"more than 1,000 bytes"):
        extract_archive(archive, dest, max_bytes=1000)
    _assert_nothing_left(dest)


def test_tar_declaring_a_huge_member_stops_at_its_header(tmp_path: Path) -> None:
    # A header claiming 1 TB with no data behind it: refused on the claim, not read or written.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        tf.addfile(tarfile.TarInfo("small.txt"), io.BytesIO(b""))
    data = bytearray(buffer.getvalue())
    huge = tarfile.TarInfo("huge.bin")
    huge.size = 10**12
    archive = tmp_path / "huge.tar"
    archive.write_bytes(bytes(data[:512]) + huge.tobuf() + bytes(1024))
    dest = tmp_path / "out"
    with pytest.raises(CorruptDataError, match=r"1,000,000,000,000 bytes"):
        extract_archive(archive, dest, max_bytes=10**6)
    _assert_nothing_left(dest)


def test_damaged_archive_leaves_nothing(tmp_path: Path) -> None:
    good = _tar_gz(tmp_path / "good.tar.gz", _MEMBERS).read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(good[: len(good) - 20])
    dest = tmp_path / "out"
    with pytest.raises(CorruptDataError, match="cannot be unpacked"):
        extract_archive(tmp_path / "cut.tar.gz", dest)
    _assert_nothing_left(dest)


def test_unpacking_into_a_folder_with_files(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    (dest / "keep").mkdir(parents=True)
    extract_archive(_zip(tmp_path / "a.zip", _MEMBERS), dest)
    assert _files(dest) == _MEMBERS and (dest / "keep").is_dir()
    with pytest.raises(OutputError, match="already exists"):  # data/ is there now
        extract_archive(_tar_gz(tmp_path / "b.tar.gz", _MEMBERS), dest)
    assert _files(dest) == _MEMBERS
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_caltech_limits_are_about_four_times_its_size() -> None:
    import cnnkit.data.sources as sources

    # Caltech-101 unpacks to about 150 MB in about 9,300 files and folders (Fei-Fei et al., 2004).
    assert 3 * 150e6 < sources._CALTECH_MAX_BYTES < 6 * 150e6
    assert 3 * 9300 < sources._CALTECH_MAX_MEMBERS < 6 * 9300
