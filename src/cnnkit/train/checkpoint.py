"""Checkpoints for exact resume: state.safetensors (every tensor) + state.json (everything else).

A checkpoint holds what the rest of training depends on: weights, optimiser and scheduler
state, the step counter, the epoch's running sums and every random state. Nested state
dicts are split into their tensors, saved with safetensors (never a pickle), and a JSON
skeleton that says where each tensor goes back.

Writing is a two-file commit that a kill at any instant cannot break:

1. ``.state.safetensors.next`` and ``.state.json.next`` are written and fsync'd;
   state.json carries the SHA-256 of the tensor file it belongs to;
2. the tensor file is renamed into place, then the JSON file, then the directory is fsync'd.

A reader trusts state.json only if the hash matches. If the process died between the two
renames, the new tensor file sits beside the old state.json, and ``.state.json.next``
(complete, because it was fsync'd before the first rename) matches it: the commit is
rolled forward. Any other partial state leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from cnnkit.errors import CheckpointError, OutputError
from cnnkit.files import GIB, MIB, read_bytes, read_json
from cnnkit.schema import shown

__all__ = [
    "STATE_FILE",
    "STATE_INFO_FILE",
    "Checkpoint",
    "has_checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "pack",
    "unpack",
]

STATE_FILE = "state.safetensors"
STATE_INFO_FILE = "state.json"
FORMAT = 1
_NEXT = ".{}.next"
_INFO_BYTES = 64 * MIB    # the JSON skeleton and scalars; tensors live in the blob
_BLOB_BYTES = 32 * GIB    # weights, optimiser moments and RNG states of the largest zoo model, many times over


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the nested training state and the caller's JSON metadata."""

    state: dict[str, Any]
    meta: dict[str, Any]


def has_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint (valid or not)."""
    return (run_dir / STATE_INFO_FILE).is_file() or (run_dir / _NEXT.format(STATE_INFO_FILE)).is_file()


def save_checkpoint(run_dir: Path, state: dict[str, Any], meta: dict[str, Any]) -> int:
    """Write ``state`` (nested dicts/lists of tensors and JSON values) atomically; returns bytes written."""
    tensors, skeleton = pack(state)
    blob = save_tensors(tensors)
    text = json.dumps(
        {"format": FORMAT, "sha256": hashlib.sha256(blob).hexdigest(), "meta": meta, "state": skeleton}
    )
    blob_next = run_dir / _NEXT.format(STATE_FILE)
    info_next = run_dir / _NEXT.format(STATE_INFO_FILE)
    try:
        _write_synced(blob_next, blob)
        _write_synced(info_next, text.encode("utf-8"))
        os.replace(blob_next, run_dir / STATE_FILE)
        os.replace(info_next, run_dir / STATE_INFO_FILE)
        _fsync_dir(run_dir)
    except OSError as err:
        for leftover in (blob_next, info_next):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise OutputError(
            f"could not write a checkpoint to {run_dir} ({err.strerror or err}); the previous checkpoint is intact"
        ) from None
    return len(blob) + len(text)


def load_checkpoint(run_dir: Path) -> Checkpoint:
    """Read and verify the checkpoint of ``run_dir``, completing a commit a kill interrupted."""
    info_path, blob_path = run_dir / STATE_INFO_FILE, run_dir / STATE_FILE
    info_next = run_dir / _NEXT.format(STATE_INFO_FILE)
    if not has_checkpoint(run_dir):
        raise CheckpointError(f"{run_dir} has no checkpoint ({STATE_INFO_FILE}); it cannot be resumed")
    blob = read_bytes(blob_path, what="checkpoint file", max_bytes=_BLOB_BYTES, error=CheckpointError)
    digest = hashlib.sha256(blob).hexdigest()
    info = _read_info(info_path)
    if (info is None or info.get("sha256") != digest) and info_next.is_file():
        pending = _read_info(info_next)
        if pending is not None and pending.get("sha256") == digest:
            with contextlib.suppress(OSError):  # roll the interrupted commit forward
                os.replace(info_next, info_path)
                _fsync_dir(run_dir)
            info = pending
    if info is None:
        raise CheckpointError(f"{info_path} is unreadable or not cnnkit's; the checkpoint cannot be resumed")
    if info.get("sha256") != digest:
        raise CheckpointError(
            f"{blob_path} does not match {STATE_INFO_FILE} (truncated or changed); the checkpoint cannot be resumed"
        )
    version = info.get("format")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT:
        raise CheckpointError(
            f"{info_path} was written by a newer cnnkit (checkpoint format {version}); this cnnkit reads format "
            f"{FORMAT}: upgrade cnnkit to resume it"
        )
    if version != FORMAT:
        raise CheckpointError(f"{info_path} has checkpoint format {shown(version)}; this cnnkit reads {FORMAT}")
    try:
        tensors = load_tensors(blob)
        state = unpack(info["state"], tensors)
        meta = info["meta"]
    except (SafetensorError, KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError,
            RecursionError) as err:
        raise CheckpointError(f"checkpoint in {run_dir} is corrupt ({type(err).__name__}); it cannot be resumed") from None
    if not isinstance(state, dict) or not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint in {run_dir} is corrupt (bad structure); it cannot be resumed")
    return Checkpoint(state=state, meta=meta)


def pack(value: Any, tensors: dict[str, torch.Tensor] | None = None, prefix: str = "") -> tuple[dict, Any]:
    """Split nested state into ``{name: tensor}`` and a JSON skeleton naming where each tensor went."""
    tensors = {} if tensors is None else tensors
    if isinstance(value, torch.Tensor):
        key = _free_key(tensors, prefix)
        tensors[key] = value.detach().to("cpu").contiguous()
        return tensors, {"__tensor__": key}
    if isinstance(value, np.ndarray):  # NumPy's RNG state: uint32 words, stored widened
        key = _free_key(tensors, prefix)
        tensors[key] = torch.from_numpy(value.astype(np.int64))
        return tensors, {"__ndarray__": key, "dtype": str(value.dtype)}
    if isinstance(value, dict):
        items = [[k, pack(v, tensors, f"{prefix}.{k}" if prefix else str(k))[1]] for k, v in value.items()]
        if all(isinstance(k, str) for k in value):
            return tensors, {"__dict__": items}
        return tensors, {"__dict__": items, "int_keys": True}
    if isinstance(value, (list, tuple)):
        items = [pack(v, tensors, f"{prefix}.{i}")[1] for i, v in enumerate(value)]
        return tensors, {"__tuple__" if isinstance(value, tuple) else "__list__": items}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return tensors, value
    if isinstance(value, np.generic):
        return tensors, value.item()
    raise TypeError(f"cannot checkpoint a value of type {type(value).__name__} at {prefix!r}")


def unpack(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Rebuild the nested state that ``pack`` split (KeyError/TypeError on a damaged skeleton)."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__ndarray__" in skeleton:
            return tensors[skeleton["__ndarray__"]].numpy().astype(np.dtype(skeleton["dtype"]))
        if "__dict__" in skeleton:
            cast = int if skeleton.get("int_keys") else (lambda k: k)
            return {cast(k): unpack(v, tensors) for k, v in skeleton["__dict__"]}
        if "__tuple__" in skeleton:
            return tuple(unpack(v, tensors) for v in skeleton["__tuple__"])
        if "__list__" in skeleton:
            return [unpack(v, tensors) for v in skeleton["__list__"]]
        raise KeyError("unknown node")
    if isinstance(skeleton, (bool, int, float, str)) or skeleton is None:
        return skeleton
    raise TypeError(f"unexpected {type(skeleton).__name__} in a checkpoint skeleton")


def _free_key(tensors: dict[str, torch.Tensor], prefix: str) -> str:
    key, n = prefix or "value", 1
    while key in tensors:  # "a.0" from a dict key and from a list index: keep both
        n += 1
        key = f"{prefix}#{n}"
    return key


def _read_info(path: Path) -> dict[str, Any] | None:
    """state.json's content, or None if it is not a readable, sane JSON object (a FIFO is refused, not read)."""
    if not path.exists():
        return None
    try:
        info = read_json(path, what="checkpoint file", max_bytes=_INFO_BYTES, error=CheckpointError)
    except CheckpointError:
        return None
    return info if isinstance(info, dict) else None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
