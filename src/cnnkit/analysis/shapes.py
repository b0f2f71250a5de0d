"""The input shape an analysis runs on: ``224``, ``(224, 224)`` or ``(3, 224, 224)`` -> (C, H, W)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from cnnkit.errors import ConfigError

__all__ = ["input_shape", "parse_input"]


def input_shape(model: nn.Module, input_size: int | Sequence[int], in_chans: int | None = None) -> tuple[int, int, int]:
    """(C, H, W) from a side, (H, W) or (C, H, W); C defaults to the first layer's in_channels."""
    size = (input_size,) if isinstance(input_size, int) else tuple(int(s) for s in input_size)
    if len(size) == 3:
        if in_chans is not None and in_chans != size[0]:
            raise ConfigError(f"in_chans={in_chans} contradicts the input size {size}")
        chans, height, width = size
    elif len(size) in (1, 2):
        chans = in_chans if in_chans is not None else _first_in_channels(model)
        height, width = size * 2 if len(size) == 1 else size
    else:
        raise ConfigError(f"an input size is H, (H, W) or (C, H, W), got {input_size!r}")
    if min(chans, height, width) < 1:
        raise ConfigError(f"an input size must be positive, got {chans}x{height}x{width}")
    return chans, height, width


def parse_input(text: str) -> tuple[int, ...]:
    """'3x224x224', '224x224' or '224' as a tuple of positive ints; anything else raises ConfigError."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if not 1 <= len(size) <= 3 or min(size) < 1:
        raise ConfigError(f"--input must look like 3x224x224, 224x224 or 224 (positive integers), got {text!r}")
    return size


def _first_in_channels(model: nn.Module) -> int:
    for module in model.modules():
        if isinstance(getattr(module, "in_channels", None), int):
            return module.in_channels
    return 3
