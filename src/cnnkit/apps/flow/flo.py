"""Middlebury ``.flo`` files (Baker et al., IJCV 2011): the format of FlyingChairs, Sintel and
most optical-flow code. Little-endian: the float 202021.25 ("PIEH"), the width and the height
as int32, then height x width pairs (u, v) of float32, row by row. Values above 1e9 mark pixels
whose flow is unknown.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cnnkit.atomic import atomic_write_bytes
from cnnkit.errors import ConfigError, CorruptDataError
from cnnkit.files import read_bytes

__all__ = ["UNKNOWN_FLOW", "read_flo", "write_flo"]

MAGIC = 202021.25
UNKNOWN_FLOW = 1e9          # a component above this means "no flow known here"
_MAX_SIDE = 100_000
_HEADER = 12


def read_flo(path: str | Path) -> Tensor:
    """A ``.flo`` file as a float32 tensor (2, H, W): u (rightwards) and v (downwards) in pixels."""
    path = Path(path)
    data = read_bytes(path, what="flow file", max_bytes=_HEADER + 8 * 2**31, error=CorruptDataError)
    if len(data) < _HEADER:
        raise CorruptDataError(f"{path} is {len(data)} bytes, shorter than a .flo header; the file is truncated")
    magic, width, height = struct.unpack("<fii", data[:_HEADER])
    if magic != MAGIC:
        raise CorruptDataError(f"{path} does not start with the .flo tag 202021.25 (PIEH); it is not a Middlebury flow file")
    if not (1 <= width <= _MAX_SIDE and 1 <= height <= _MAX_SIDE):
        raise CorruptDataError(f"{path} claims {width}x{height} pixels; the header is damaged")
    expected = _HEADER + 8 * width * height
    if len(data) != expected:
        raise CorruptDataError(f"{path} holds {len(data):,} bytes, but a {width}x{height} flow takes {expected:,}; "
                               "the file is truncated or damaged")
    values = np.frombuffer(data, dtype="<f4", offset=_HEADER).reshape(height, width, 2)
    return torch.from_numpy(values.astype(np.float32)).permute(2, 0, 1).contiguous()


def write_flo(path: str | Path, flow: Tensor) -> Path:
    """Write a (2, H, W) flow as a ``.flo`` file, atomically (nothing half-written on failure)."""
    if not isinstance(flow, Tensor) or flow.dim() != 3 or flow.shape[0] != 2 or min(flow.shape[1:]) < 1:
        shape = tuple(flow.shape) if isinstance(flow, Tensor) else type(flow).__name__
        raise ConfigError(f"a flow field is a (2, H, W) tensor of (u, v), got {shape}")
    height, width = flow.shape[1:]
    body = flow.detach().float().cpu().permute(1, 2, 0).contiguous().numpy().astype("<f4").tobytes()
    return atomic_write_bytes(Path(path), struct.pack("<fii", MAGIC, width, height) + body)
