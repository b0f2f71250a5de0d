"""Reading a state dict from a foreign file without running any code in it.

``.safetensors`` holds only a JSON header and raw tensor bytes, so reading it runs nothing.
``torch.save`` files (``.pt``/``.pth``/``.bin``; a zip since PyTorch 1.6, a bare pickle
before) are read with ``torch.load(weights_only=True)``: its restricted unpickler builds
only tensors and plain containers, and a pickle that names any other global (``os.system``,
``builtins.exec``, a class of its own) is refused before anything in it runs. The format is
told by the file's first bytes, not by its suffix.

A zip is memory-mapped only when every member is stored uncompressed: ``mmap=True`` reads a
member's bytes in place, so a deflated member (a checkpoint re-zipped by a tool, or by Python's
``zipfile`` with ``ZIP_DEFLATED``) would come back as garbage tensors without any error. Such a
file is read through an open file instead, which inflates it; other compression methods
(bzip2, lzma), which PyTorch cannot read at all, are refused by name.

The file is checked to be a regular file of at most ``MAX_WEIGHTS_BYTES`` before anything opens
it: a FIFO would block the first ``read`` forever.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import struct
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnkit.errors import WeightsError
from cnnkit.files import GIB, check_regular_file

__all__ = ["MAX_WEIGHTS_BYTES", "read_state_dict", "weights_format"]

_WRAPPERS = ("state_dict", "model_state_dict", "model")  # checkpoint keys that hold the state dict
# The largest network a run may hold (runs.format.MAX_PARAMETERS, 2e9 float32: 8 GiB) in float64;
# a bigger file is a checkpoint with optimiser state beside the weights, or not weights at all.
MAX_WEIGHTS_BYTES = 16 * GIB
_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}  # zip compression PyTorch cannot read
_GLOBAL_TAIL = 1024  # bytes at the file's end searched for a GLOBAL instruction cut short


def weights_format(path: str | os.PathLike[str]) -> str:
    """'safetensors', 'zip' (torch.save) or 'pickle' (legacy torch.save), from the first bytes."""
    path = Path(path)
    check_regular_file(path, what="weights file", max_bytes=MAX_WEIGHTS_BYTES, error=WeightsError)
    try:
        with _open(path) as f:  # non-blocking: a FIFO swapped in after the check reads as empty
            head, size = f.read(9), os.fstat(f.fileno()).st_size
    except OSError as err:
        raise WeightsError(f"cannot read {path} ({err.strerror})") from None
    if not head:
        raise WeightsError(f"{path} is empty; nothing was loaded")
    # safetensors: an 8-byte little-endian header length, then the JSON header itself.
    if len(head) == 9 and head[8:9] == b"{" and 2 <= struct.unpack("<Q", head[:8])[0] <= size - 8:
        return "safetensors"
    if head.startswith(b"PK"):
        return "zip"
    # Protocol 2+ pickles start with PROTO n; protocol 0/1 ones with MARK, GLOBAL or an empty dict/list.
    if (head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5) or head[:1] in (b"(", b"c", b"}", b"]"):
        return "pickle"
    raise WeightsError(
        f"{path} is neither a safetensors file nor a PyTorch checkpoint (it begins with {head[:8]!r}); "
        "nothing was loaded"
    )


def _open(path: Path) -> Any:
    """``path`` opened for reading without ever blocking (O_NONBLOCK changes nothing for a regular file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    return os.fdopen(fd, "rb")


def _zip_compressed(path: Path) -> bool:
    """Whether a torch.save zip has compressed members (so it cannot be memory-mapped); refuses
    compression methods and encryption that PyTorch's zip reader does not support."""
    try:
        with _open(path) as f, zipfile.ZipFile(f) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as err:
        raise WeightsError(
            f"{path} is truncated or corrupt (not a readable zip: {_reason(err)}); nothing was loaded"
        ) from None
    for member in members:
        if member.flag_bits & 0x1:
            raise WeightsError(f"{path} has encrypted zip members ({member.filename}); save it again with torch.save")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            method = _METHODS.get(member.compress_type, "an unknown method")
            raise WeightsError(
                f"{path} has zip members compressed with {method} ({member.filename}), which PyTorch cannot read; "
                "save it again with torch.save, or re-zip it uncompressed"
            )
    return any(member.compress_type != zipfile.ZIP_STORED for member in members)


def _reason(err: BaseException) -> str:
    """The first sentence of an exception's message, for a one-line error."""
    text = str(err).strip()
    text = text.splitlines()[0].split(". ")[0].rstrip(".") if text else ""
    return text[:160] or ("it ends too early" if isinstance(err, EOFError) else type(err).__name__)


def _cut_inside_global(path: Path, name: str) -> bool:
    """Whether the file ends inside the GLOBAL instruction that named ``name``.

    GLOBAL reads two lines, module and name, and drops each one's last byte (its newline). In a
    file cut short the last line has no newline, so the unpickler reports a mangled name
    (``torch._utils._rebu``, ``torch.``), which is damage, not pickled code.
    """
    if name.endswith("."):
        return True  # an empty name: the file ended before the name line, or within the module line
    try:
        with _open(path) as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - _GLOBAL_TAIL))
            tail = f.read(_GLOBAL_TAIL)
    except OSError:
        return False
    if tail.endswith(b"\n"):
        return False  # the last instruction's lines are whole
    last = tail.rsplit(b"\n", 1)[-1][:-1].decode("utf-8", "replace")
    return name.endswith(f".{last}")


def _refused(path: Path, err: pickle.UnpicklingError) -> WeightsError:
    message = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found and _cut_inside_global(path, found[1]):
        return WeightsError(f"{path} is truncated or corrupt (it ends inside a pickled name); nothing was loaded")
    if found:
        return WeightsError(
            f"{path} was refused and not loaded: it contains pickled code or objects ({found[1]}), "
            "not only tensors, and cnnkit never runs code from a weights file; save model.state_dict() "
            "with torch.save, or use .safetensors"
        )
    opcode = re.search(r"Unsupported operand (\d+)", message)
    detail = f" (pickle opcode {opcode[1]})" if opcode else ""
    return WeightsError(
        f"{path} was refused and not loaded: its pickle data is corrupt or uses an operation "
        f"that a torch.save state dict does not{detail}"
    )


def _load(path: Path, kind: str) -> Any:
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except Exception as err:  # noqa: BLE001  (untrusted bytes may fail a loader any way: a bad file)
            raise WeightsError(f"{path} is not a valid safetensors file ({_reason(err)}); nothing was loaded") from None
    # torch.load hands a path ending in .safetensors to safetensors whatever it holds, and mmap
    # needs a path and a zip of stored members; anything else is read through an open file.
    compressed = kind == "zip" and _zip_compressed(path)
    by_path = kind == "zip" and not compressed and not path.name.endswith(".safetensors")
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            # On failure torch advises retrying with weights_only=False: exactly what must not happen.
            warnings.simplefilter("ignore")
            source = path if by_path else stack.enter_context(_open(path))
            return torch.load(source, map_location="cpu", weights_only=True, mmap=by_path)
    except pickle.UnpicklingError as err:
        raise _refused(path, err) from None
    except RuntimeError as err:
        if "TorchScript" in str(err):
            raise WeightsError(
                f"{path} is a TorchScript program, not a state dict, and was not loaded; "
                "save model.state_dict() with torch.save instead"
            ) from None
        raise WeightsError(f"{path} is truncated or corrupt ({_reason(err)}); nothing was loaded") from None
    except Exception as err:  # noqa: BLE001  (EOFError, struct.error, ...: a bad file, not a bug)
        raise WeightsError(f"{path} is truncated or corrupt ({_reason(err)}); nothing was loaded") from None


def _state_dict_in(obj: Any, path: Path, depth: int = 0) -> dict[str, Any]:
    """The state dict in a loaded object: the object itself, or under one of ``_WRAPPERS``."""
    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"{path} holds a {type(obj).__name__}, not a state dict (names mapped to tensors); "
            "save model.state_dict() instead"
        )
    if not all(isinstance(k, str) for k in obj):
        raise WeightsError(f"{path} holds a dict whose keys are not all names, not a state dict")
    values = list(obj.values())
    if values and all(isinstance(v, Tensor) for v in values):
        return dict(obj)
    for key in _WRAPPERS:
        if depth < 3 and isinstance(obj.get(key), Mapping):
            return _state_dict_in(obj[key], path, depth + 1)
    if any(isinstance(v, Tensor) for v in values):
        return dict(obj)  # tensors mixed with other values: the caller reports the others by name
    shown = ", ".join(repr(k) for k in list(obj)[:3])
    raise WeightsError(f"{path} holds no tensors (keys: {shown or 'none'}); it is not a state dict")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state dict in a .safetensors or torch.save file, read without running pickled code.

    Checkpoint dicts are unwrapped: ``{"state_dict": ...}``, ``{"model": ...}`` and
    ``{"model_state_dict": ...}``. Key prefixes are left as they are.
    """
    path = Path(path)
    return _state_dict_in(_load(path, weights_format(path)), path)
