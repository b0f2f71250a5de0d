"""The checkpoint files: lossless round trip, a commit no kill can tear, clear errors, fuzzing."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import cnnkit.train.checkpoint as ckpt
from cnnkit.errors import CheckpointError, OutputError
from cnnkit.train.checkpoint import load_checkpoint, pack, save_checkpoint, unpack


def _training_state(seed: int) -> dict:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten())
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.rand(2, 1, 5, 5)).sum().backward()
    optimizer.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch": torch.get_rng_state(),
        "numpy": np.random.RandomState(seed).get_state(),
        "python": random.Random(seed).getstate(),
        "ranks": [{"seen": 3, "loss": torch.tensor(1.5)}],
        "none": None,
    }


def _assert_same(a, b) -> None:
    if isinstance(a, dict):  # an OrderedDict comes back as a dict with the same order
        assert isinstance(b, dict)
    else:
        assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def test_pack_and_unpack_restore_every_value_exactly() -> None:
    state = _training_state(0)
    tensors, skeleton = pack(state)
    _assert_same(unpack(skeleton, tensors), state)


def test_restored_random_states_continue_the_same_streams() -> None:
    state = _training_state(1)
    back = unpack(*reversed(pack(state)))
    a, b = np.random.RandomState(), random.Random()
    a.set_state(back["numpy"])
    b.setstate(back["python"])
    assert np.array_equal(a.rand(5), np.random.RandomState(1).rand(5))
    fresh = random.Random(1)
    assert [b.random() for _ in range(3)] == [fresh.random() for _ in range(3)]


def test_keys_that_collide_once_flattened_are_kept_apart() -> None:
    state = {"a": {"0": torch.tensor(1.0)}, "a.0": torch.tensor(2.0)}
    tensors, skeleton = pack(state)
    _assert_same(unpack(skeleton, tensors), state)


def test_save_then_load(tmp_path: Path) -> None:
    state = _training_state(2)
    save_checkpoint(tmp_path, state, {"epoch": 3})
    loaded = load_checkpoint(tmp_path)
    _assert_same(loaded.state, state)
    assert loaded.meta == {"epoch": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.safetensors"]


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no cleanup."""


@pytest.mark.parametrize("die_at", ["write-1", "write-2", "replace-1", "replace-2", "fsync-dir"])
def test_a_kill_at_any_point_of_the_commit_leaves_a_valid_checkpoint(tmp_path: Path, monkeypatch, die_at) -> None:
    old, new = _training_state(3), _training_state(4)
    save_checkpoint(tmp_path, old, {"which": "old"})
    calls = {"write": 0, "replace": 0}
    real_write, real_replace, real_fsync_dir = ckpt._write_synced, os.replace, ckpt._fsync_dir

    def write(path, data):
        calls["write"] += 1
        if die_at == f"write-{calls['write']}":
            path.write_bytes(data[: len(data) // 2])  # torn mid-write
            raise _Killed
        real_write(path, data)

    def replace(src, dst):
        calls["replace"] += 1
        if die_at == f"replace-{calls['replace']}":
            raise _Killed
        real_replace(src, dst)

    def fsync_dir(path):
        if die_at == "fsync-dir":
            raise _Killed
        real_fsync_dir(path)

    monkeypatch.setattr(ckpt, "_write_synced", write)
    monkeypatch.setattr(ckpt.os, "replace", replace)
    monkeypatch.setattr(ckpt, "_fsync_dir", fsync_dir)
    with pytest.raises(_Killed):
        save_checkpoint(tmp_path, new, {"which": "new"})
    monkeypatch.undo()
    loaded = load_checkpoint(tmp_path)
    expected = old if loaded.meta["which"] == "old" else new
    _assert_same(loaded.state, expected)
    # once the tensor file is in place, the commit must complete (roll forward), never fall back
    assert loaded.meta["which"] == ("old" if die_at.startswith("write") or die_at == "replace-1" else "new")


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    save_checkpoint(tmp_path, {"x": torch.tensor([1.0])}, {"n": 1})

    def full(path, data):
        path.write_bytes(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "_write_synced", full)
    with pytest.raises(OutputError, match="No space left on device.*previous checkpoint is intact"):
        save_checkpoint(tmp_path, {"x": torch.tensor([2.0])}, {"n": 2})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path).meta == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.safetensors"]


def test_missing_truncated_and_foreign_checkpoints_raise_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="has no checkpoint"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, _training_state(5), {})
    blob = (tmp_path / "state.safetensors").read_bytes()
    (tmp_path / "state.safetensors").write_bytes(blob[:-100])
    with pytest.raises(CheckpointError, match="does not match state.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "state.safetensors").write_bytes(blob)
    (tmp_path / "state.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="unreadable or not cnnkit's"):
        load_checkpoint(tmp_path)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("ckpt")
    save_checkpoint(folder, _training_state(6), {"epoch": 1})
    return (folder / "state.json").read_bytes(), (folder / "state.safetensors").read_bytes()


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for position, value in edits:
        if buf:
            buf[position % len(buf)] = value
    return bytes(buf if cut is None else buf[: cut % (len(buf) + 1)])


@given(
    which=st.sampled_from(["json", "tensors", "both"]),
    edits=st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), max_size=8),
    cut=st.none() | st.integers(0, 2**20),
    junk=st.none() | st.binary(max_size=300),
)
def test_fuzz_mutated_checkpoints_load_or_raise_checkpoint_error(
    tmp_path_factory, valid_files, which, edits, cut, junk
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    info, blob = valid_files
    if which in ("json", "both"):
        info = junk if junk is not None else _mutate(info, edits, cut)
    if which in ("tensors", "both"):
        blob = junk if junk is not None else _mutate(blob, edits, cut)
    (folder / "state.json").write_bytes(info)
    (folder / "state.safetensors").write_bytes(blob)
    try:
        loaded = load_checkpoint(folder)
    except CheckpointError:
        return
    assert isinstance(loaded.state, dict) and isinstance(loaded.meta, dict)


@given(skeleton=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["__tensor__", "__dict__", "__list__", "__tuple__", "__ndarray__", "dtype", "int_keys", "x"]), inner, max_size=3),
    max_leaves=10,
))
def test_fuzz_a_forged_state_json_is_a_checkpoint_error(tmp_path_factory, skeleton) -> None:
    import hashlib
    import json

    from safetensors.torch import save

    folder = tmp_path_factory.mktemp("forged")
    blob = save({"x": torch.zeros(2)})
    (folder / "state.safetensors").write_bytes(blob)
    info = {"format": 1, "sha256": hashlib.sha256(blob).hexdigest(), "meta": {}, "state": skeleton}
    (folder / "state.json").write_text(json.dumps(info))
    try:
        load_checkpoint(folder)
    except CheckpointError:
        pass
