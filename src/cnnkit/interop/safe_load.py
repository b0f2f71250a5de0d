"""Reading a state dict from a foreign file without running any code in it.

``.safetensors`` holds only a JSON header and raw tensor bytes, so reading it runs nothing.
``torch.save`` files (``.pt``/``.pth``/``.bin``; a zip since PyTorch 1.6, a bare pickle
before) are read with ``torch.load(weights_only=True)``: its restricted unpickler builds
only tensors and plain containers, and a pickle that names any other global (``os.system``,
``builtins.exec``, a class of its own) is refused before anything in it runs. The format is
told by the file's first bytes, not by its suffix.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnkit.errors import WeightsError

__all__ = ["read_state_dict", "weights_format"]

_WRAPPERS = ("state_dict", "model_state_dict", "model")  # checkpoint keys that hold the state dict


def weights_format(path: str | os.PathLike[str]) -> str:
    """'safetensors', 'zip' (torch.save) or 'pickle' (legacy torch.save), from the first bytes."""
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a directory; give a .safetensors or .pt/.pth file")
    try:
        with open(path, "rb") as f:
            head, size = f.read(9), os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise WeightsError(f"{path} does not exist; give a .safetensors or .pt/.pth file") from None
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


def _reason(err: BaseException) -> str:
    """The first sentence of an exception's message, for a one-line error."""
    text = str(err).strip()
    text = text.splitlines()[0].split(". ")[0].rstrip(".") if text else ""
    return text[:160] or ("it ends too early" if isinstance(err, EOFError) else type(err).__name__)


def _refused(path: Path, err: pickle.UnpicklingError) -> WeightsError:
    message = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", message)
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
    # needs a path and a zip; anything else is read through an open file.
    by_path = kind == "zip" and not path.name.endswith(".safetensors")
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            # On failure torch advises retrying with weights_only=False: exactly what must not happen.
            warnings.simplefilter("ignore")
            source = path if by_path else stack.enter_context(open(path, "rb"))
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
