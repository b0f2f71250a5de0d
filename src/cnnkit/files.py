"""Reading files cnnkit did not write in this process: only regular files of a sane size.

A FIFO, a device or a socket given where a file is expected would block a plain ``open``
or ``read`` forever, and a file of many gigabytes would exhaust memory. Every file that a
user names, or that cnnkit reads back from a run directory, is opened here: non-blocking,
checked with ``fstat`` on the open descriptor (so a file swapped after a ``stat`` cannot
slip through), and read up to a limit chosen for its kind.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from cnnkit.errors import CnnkitError

__all__ = ["KIB", "MIB", "GIB", "check_regular_file", "read_bytes", "read_text", "read_json", "json_depth"]

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
JSON_MAX_DEPTH = 64  # no file cnnkit writes nests deeper than about 8 levels


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _size(n: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _check_mode(path: Path, st: os.stat_result, what: str, max_bytes: int | None, error: type[CnnkitError]) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {path} is {_kind(st.st_mode)}; give a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{what} {path} is {_size(st.st_size)}, more than the {_size(max_bytes)} such a file can be")


def check_regular_file(
    path: str | os.PathLike[str], *, what: str, max_bytes: int | None = None, error: type[CnnkitError] = CnnkitError
) -> Path:
    """``path`` if it is a regular file of at most ``max_bytes``, else ``error`` naming ``what`` it should be."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as err:
        raise error(f"cannot read {what} {path} ({err.strerror or err})") from None
    _check_mode(path, st, what, max_bytes, error)
    return path


def read_bytes(
    path: str | os.PathLike[str], *, what: str, max_bytes: int, error: type[CnnkitError] = CnnkitError
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; never blocks on a FIFO or device."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory; give a regular file") from None
    except OSError as err:
        raise error(f"cannot read {what} {path} ({err.strerror or err})") from None
    try:
        st = os.fstat(fd)
        _check_mode(path, st, what, max_bytes, error)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(st.st_size + 1)  # read(n) reserves n bytes: ask for what the file holds
    except OSError as err:
        raise error(f"cannot read {what} {path} ({err.strerror or err})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise error(f"{what} {path} is more than the {_size(max_bytes)} such a file can be")
    return data


def read_text(
    path: str | os.PathLike[str], *, what: str, max_bytes: int, error: type[CnnkitError] = CnnkitError
) -> str:
    """A UTF-8 text file, read as ``read_bytes`` does."""
    data = read_bytes(path, what=what, max_bytes=max_bytes, error=error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{what} {path} is not UTF-8 text (byte {err.start})") from None


def read_json(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int = 16 * MIB,
    error: type[CnnkitError] = CnnkitError,
    max_depth: int = JSON_MAX_DEPTH,
) -> Any:
    """A JSON file's value, refused on one line if unreadable, malformed or nested deeper than ``max_depth``."""
    text = read_text(path, what=what, max_bytes=max_bytes, error=error)
    return parse_json(text, source=f"{what} {path}", error=error, max_depth=max_depth)


def parse_json(text: str, *, source: str, error: type[CnnkitError] = CnnkitError, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """``json.loads`` with every failure (syntax, deep nesting) turned into one ``error`` naming ``source``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{source} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise error(f"{source} nests deeper than {max_depth} levels; it is not a file cnnkit wrote") from None
    if json_depth(value) > max_depth:
        raise error(f"{source} nests deeper than {max_depth} levels; it is not a file cnnkit wrote")
    return value


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest
