"""Typed, bounded fields: the one place where a value read from a file or typed as an option is checked.

Every file cnnkit reads back (model.json, config.json, metrics.jsonl, state.json) and every
configuration dataclass checks its fields through ``Fields``, so a wrong type, a value out of
range or a list of the wrong length gives one message naming the source, the field and what
was expected, raised as the caller's ``CnnkitError`` subclass.

Written by hand rather than with a validation library: the configs are frozen dataclasses
checked in ``__post_init__`` (STYLE.md rule 5), and the messages stay in cnnkit's voice
(what was wrong, and how to fix it), one line each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from cnnkit.errors import CnnkitError, ConfigError

__all__ = ["Fields", "shown", "options_from_dict", "MAX_NAME_BYTES", "MAX_SEED"]

MAX_NAME_BYTES = 255  # the longest file name Linux, macOS and Windows file systems accept
MAX_SEED = 2**32 - 1  # NumPy's seeds are 32-bit; every cnnkit seed has this range


def options_from_dict(cls: type, values: dict[str, Any], what: str) -> Any:
    """The options dataclass ``cls`` from a dict (config.task_options); an unknown key names the known ones."""
    import dataclasses

    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {what} option {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return cls(**values)


def shown(value: Any, limit: int = 40) -> str:
    """A short repr of a value for an error message (a 10,000-level list is not printed whole)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


class Fields:
    """Checks for the fields of one source: ``Fields("model.json", RunDirError).integer("in_chans", v, 1, 64)``."""

    def __init__(self, source: str, error: type[CnnkitError] = ConfigError, hint: str = "",
                 label: Callable[[str], str] | None = None) -> None:
        self.source, self.error, self.hint = source, error, hint
        self.label = label or (lambda name: name)  # e.g. "batch_size" -> "batch_size (--batch-size)"

    def fail(self, name: str, expected: str, value: Any) -> CnnkitError:
        """The error for field ``name``: what it must be and what it was."""
        return self.error(f"{self._where()}{self.label(name)} must be {expected}, got {shown(value)}{self._hint()}")

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    def _hint(self) -> str:
        return f"; {self.hint}" if self.hint else ""

    def integer(self, name: str, value: Any, lo: int, hi: int) -> int:
        """An int (not a bool) in [lo, hi]."""
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(name, f"an integer in [{lo:,}, {hi:,}]", value)
        return value

    def number(self, name: str, value: Any, lo: float, hi: float, *, open_lo: bool = False,
               open_hi: bool = False) -> float:
        """A finite int or float in the interval from lo to hi (either end open)."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (lo < value if open_lo else lo <= value) and (value < hi if open_hi else value <= hi)
        if not ok:
            interval = f"{'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"
            raise self.fail(name, f"a finite number in {interval}", value)
        return float(value)

    def boolean(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(name, "true or false", value)
        return value

    def text(self, name: str, value: Any, *, max_len: int = 200, choices: Sequence[str] | None = None) -> str:
        """A non-empty string of at most ``max_len`` characters, one of ``choices`` when given."""
        if not isinstance(value, str) or not value or len(value) > max_len or "\0" in value:
            raise self.fail(name, f"a non-empty string of at most {max_len} characters", value)
        if choices is not None and value not in choices:
            raise self.fail(name, f"one of {', '.join(choices)}", value)
        return value

    def file_name(self, name: str, value: Any) -> str:
        """A plain file or directory name: no '/', not hidden, at most 255 bytes."""
        if (not isinstance(value, str) or not value or "/" in value or "\0" in value or value.startswith(".")
                or len(value.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES):
            raise self.fail(name, f"a plain directory name (no '/', not starting with '.', at most "
                                  f"{MAX_NAME_BYTES} bytes)", value)
        return value

    def mapping(self, name: str, value: Any, *, max_items: int = 1000) -> dict[str, Any]:
        """A JSON object with string keys."""
        if not isinstance(value, dict) or len(value) > max_items or not all(isinstance(k, str) for k in value):
            raise self.fail(name, f"an object of at most {max_items} named entries", value)
        return value

    def numbers(self, name: str, value: Any, *, length: int, lo: float, hi: float, open_lo: bool = False) -> list[float]:
        """A list of exactly ``length`` finite numbers, each in range."""
        if not isinstance(value, (list, tuple)) or len(value) != length:
            raise self.fail(name, f"a list of {length} number(s)", value)
        return [self.number(f"{name}[{i}]", v, lo, hi, open_lo=open_lo) for i, v in enumerate(value)]

    def texts(self, name: str, value: Any, *, min_len: int, max_len: int, max_chars: int = 200) -> list[str]:
        """A list of ``min_len`` to ``max_len`` non-empty strings."""
        if not isinstance(value, (list, tuple)) or not min_len <= len(value) <= max_len:
            raise self.fail(name, f"a list of {min_len:,} to {max_len:,} strings", value)
        return [self.text(f"{name}[{i}]", v, max_len=max_chars) for i, v in enumerate(value)]

    def kind(self, name: str, value: Any, expected: str) -> CnnkitError:
        """The error for a value of the wrong JSON kind: ``raise fields.kind("kwargs", v, "an object")``."""
        return self.error(f"{self._where()}{self.label(name)} must be {expected}, not {_kind(value)}{self._hint()}")
