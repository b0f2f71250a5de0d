"""read_state_dict: every supported format reads back exactly, and a pickle that would run code never does."""

from __future__ import annotations

import builtins
import os
import pickle
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import cnnkit
from cnnkit.errors import WeightsError
from cnnkit.interop import safe_load
from cnnkit.interop.safe_load import read_state_dict, weights_format


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"conv.weight": torch.randn(4, 1, 3, 3, generator=g), "conv.bias": torch.randn(4, generator=g),
            "bn.num_batches_tracked": torch.tensor(7)}


def _assert_same(read: dict, expected: dict) -> None:
    assert sorted(read) == sorted(expected)  # safetensors stores keys sorted
    for key, value in expected.items():
        assert read[key].dtype == value.dtype and torch.equal(read[key], value), key


@pytest.mark.parametrize(
    ("name", "save", "kind"),
    [
        ("w.safetensors", lambda sd, p: save_file(sd, p), "safetensors"),
        ("w.pt", lambda sd, p: torch.save(sd, p), "zip"),
        ("w.pth", lambda sd, p: torch.save(sd, p, _use_new_zipfile_serialization=False), "pickle"),
        ("w.bin", lambda sd, p: save_file(sd, p), "safetensors"),  # the content decides, not the suffix
        ("w.safetensors", lambda sd, p: torch.save(sd, p), "zip"),
    ],
)
def test_formats_read_back_exactly(tmp_path: Path, name: str, save: Callable, kind: str) -> None:
    path = tmp_path / name
    save(_state(), path)
    assert weights_format(path) == kind
    _assert_same(read_state_dict(path), _state())


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 3, "best_acc": 0.9},
        lambda sd: {"model": sd, "args": {"lr": 0.1}},
        lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": []}},
        lambda sd: {"model": {"state_dict": sd}},
    ],
    ids=["state_dict", "model", "model_state_dict", "nested"],
)
def test_checkpoint_containers_are_unwrapped(tmp_path: Path, wrap: Callable) -> None:
    torch.save(wrap(_state()), tmp_path / "ckpt.pt")
    _assert_same(read_state_dict(tmp_path / "ckpt.pt"), _state())


class _System:
    """Unpickling this runs a shell command through os.system."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {shlex.quote(self.sentinel)}",))


class _Exec:
    """Unpickling this runs Python source through builtins.exec."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self) -> tuple:
        return (builtins.exec, (f"open({self.sentinel!r}, 'w').close()",))


def _pickle(obj: object, path: Path, protocol: int) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


MALICIOUS = {
    "pickle-os.system": (lambda s, p: _pickle({"weight": _System(s)}, p, 2), pickle.loads),
    "pickle-exec-protocol-0": (lambda s, p: _pickle(_Exec(s), p, 0), pickle.loads),
    "torch.save-zip": (
        lambda s, p: torch.save({"weight": torch.zeros(2), "payload": _Exec(s)}, p),
        lambda raw: torch.load(__import__("io").BytesIO(raw), weights_only=False),
    ),
    "torch.save-legacy": (
        lambda s, p: torch.save({"payload": _System(s)}, p, _use_new_zipfile_serialization=False),
        lambda raw: torch.load(__import__("io").BytesIO(raw), weights_only=False),
    ),
}


@pytest.mark.parametrize("case", list(MALICIOUS))
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_pickle_that_runs_code_is_refused_and_never_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, suffix: str
) -> None:
    make, unsafe_load = MALICIOUS[case]
    sentinel, path = tmp_path / "SENTINEL", tmp_path / f"evil{suffix}"
    make(sentinel, path)
    # torch honours this variable only where weights_only is not passed explicitly.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(WeightsError, match="refused and not loaded: it contains pickled code or objects"):
        read_state_dict(path)
    assert not sentinel.exists(), "the pickled code ran"
    # The control: an unrestricted unpickler does run it, so the file really is malicious.
    unsafe_load(path.read_bytes())
    assert sentinel.exists()


def test_a_pickled_object_of_a_foreign_class_is_refused(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(1), "config": _System(tmp_path / "x")}, tmp_path / "obj.pt")
    with pytest.raises(WeightsError, match=r"pickled code or objects \(posix.system\)"):
        read_state_dict(tmp_path / "obj.pt")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torchscript_is_a_program_not_weights(tmp_path: Path) -> None:
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(tmp_path / "ts.pt"))
    with pytest.raises(WeightsError, match="TorchScript program"):
        read_state_dict(tmp_path / "ts.pt")


def _truncated(save: Callable) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        save(_state(), path)
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) * 2 // 3])

    return make


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"these are not weights at all\n"), "neither a safetensors file nor a PyTorch"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"\x80\x02garbage" * 8), "refused and not loaded: its pickle data is corrupt"),
        (_truncated(lambda sd, p: torch.save(sd, p)), "truncated or corrupt"),
        (_truncated(lambda sd, p: torch.save(sd, p, _use_new_zipfile_serialization=False)), "truncated or corrupt"),
        (_truncated(lambda sd, p: save_file(sd, p)), "not a valid safetensors file"),
        (lambda p: torch.save([torch.zeros(2), torch.ones(2)], p), "holds a list, not a state dict"),
        (lambda p: torch.save(torch.zeros(2), p), "holds a Tensor, not a state dict"),
        (lambda p: torch.save({"epoch": 3, "lr": 0.1}, p), "holds no tensors"),
        (lambda p: torch.save({0: torch.zeros(2)}, p), "keys are not all names"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: None, "does not exist"),
    ],
    ids=["text", "empty", "garbage-pickle", "truncated-zip", "truncated-legacy", "truncated-safetensors",
         "list", "tensor", "no-tensors", "int-keys", "directory", "missing"],
)
def test_unusable_files_raise_weights_error(tmp_path: Path, make: Callable, message: str) -> None:
    path = tmp_path / "w.pt"
    make(path)
    with pytest.raises(WeightsError, match=message) as info:
        read_state_dict(path)
    assert "\n" not in str(info.value)


def test_nothing_in_cnnkit_unpickles_a_file_unsafely() -> None:
    offenders = []
    for path in sorted(Path(cnnkit.__file__).parent.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for found in re.finditer(r"(torch|np)\.load\(([^)]*)\)|pickle\.loads?\(|Unpickler\(|np\.load\(|jit\.load\(",
                                 text):
            safe = (found[0].startswith("torch.load(") and "weights_only=True" in found[2]) or \
                (found[0].startswith("np.load(") and "allow_pickle=False" in found[2])
            if not safe:
                offenders.append(f"{path.name}: {found[0]}")
    assert offenders == []


def _rezip(path: Path, method: int) -> None:
    """Rewrite a torch.save zip with Python's zipfile, as archive tools do: members moved, maybe compressed."""
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", method) as target:
        for name, data in members:
            target.writestr(name, data)


def _big_state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)  # random floats: a wrong byte offset cannot go unnoticed
    return {"fc.weight": torch.randn(64, 300, generator=g), "fc.bias": torch.randn(64, generator=g),
            "steps": torch.arange(10)}


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_a_rezipped_checkpoint_reads_back_exactly(tmp_path: Path, method: int) -> None:
    """mmap reads members in place: a deflated one came back as garbage, with exit 0."""
    path = tmp_path / "w.pt"
    torch.save(_big_state(), path)
    _rezip(path, method)
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {method}
    _assert_same(read_state_dict(path), torch.load(path, weights_only=True))  # the reference: plain torch.load
    _assert_same(read_state_dict(path), _big_state())


@pytest.mark.parametrize(("method", "name"), [(zipfile.ZIP_LZMA, "lzma"), (zipfile.ZIP_BZIP2, "bzip2")])
def test_compression_pytorch_cannot_read_is_named(tmp_path: Path, method: int, name: str) -> None:
    torch.save(_state(), tmp_path / "w.pt")
    _rezip(tmp_path / "w.pt", method)
    with pytest.raises(WeightsError, match=f"zip members compressed with {name} .*, which PyTorch cannot read"):
        read_state_dict(tmp_path / "w.pt")


def test_a_truncated_legacy_pickle_is_never_called_code(tmp_path: Path) -> None:
    """Cut inside a GLOBAL, the unpickler reports a mangled name (torch._utils._rebu): damage, not code."""
    full = tmp_path / "full.pth"
    torch.save(_state(), full, _use_new_zipfile_serialization=False)
    raw, path = full.read_bytes(), tmp_path / "cut.pth"
    messages = set()
    for end in range(2, len(raw)):
        path.write_bytes(raw[:end])
        try:
            read_state_dict(path)
        except WeightsError as err:
            messages.add(str(err).split(" (")[0])
        else:  # the storages come last: only a cut inside them could read back, and it must not
            pytest.fail(f"{end} of {len(raw)} bytes read without an error")
    assert messages == {f"{path} is truncated or corrupt"}


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: run in a child so a regression fails, not hangs."""
    fifo = tmp_path / "w.pt"
    os.mkfifo(fifo)
    code = (
        "import sys\nfrom cnnkit.errors import WeightsError\nfrom cnnkit.interop.safe_load import read_state_dict\n"
        "try:\n    read_state_dict(sys.argv[1])\nexcept WeightsError as err:\n    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"weights file {fifo} is a FIFO (named pipe); give a regular file"


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save(_state(), tmp_path / "w.pt")
    monkeypatch.setattr(safe_load, "MAX_WEIGHTS_BYTES", 100)
    with pytest.raises(WeightsError, match=r"weights file .* is .*, more than the 100 bytes such a file can be"):
        read_state_dict(tmp_path / "w.pt")
