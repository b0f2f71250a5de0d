"""Convolution layers with the lecture's border modes, drop-in replacements for torch.nn.Conv1d/2d/3d.

``Conv2d(..., border="same")`` is an ``nn.Conv2d`` (same parameters ``weight`` and ``bias``, same
state-dict keys, same constructor) whose forward runs ``cnnkit.ops``: the hand-written backward
of the lecture, 'same' with any stride (TensorFlow's rule), 'full' borders, and ``flip=True`` for
true convolution. ``Conv2d.from_torch(module)`` converts an existing ``nn.Conv2d``.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.ops import conv1d, conv2d, conv3d
from cnnkit.ops.conv import border_padding

__all__ = ["Conv1d", "Conv2d", "Conv3d"]

_OPS = {1: conv1d, 2: conv2d, 3: conv3d}
_BORDERS = ("valid", "same", "full")


class _BorderConv:
    """Shared constructor, forward and conversion of the three layers; mixed in before nn.ConvNd."""

    _torch_class: type[nn.modules.conv._ConvNd]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: str | int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        border: str | None = None,
        flip: bool = False,
    ) -> None:
        name = type(self).__name__
        if border is not None and border not in _BORDERS:
            raise ConfigError(f"{name}: unknown border {border!r}; use 'valid', 'same' or 'full' (or None for padding)")
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ConfigError(
                f"{name}: in_channels={in_channels} and out_channels={out_channels} must both be divisible "
                f"by groups={groups}"
            )
        # torch checks string paddings itself and refuses 'full' and strided 'same'; a border
        # replaces the padding, so torch sees none.
        super().__init__(  # type: ignore[call-arg]
            in_channels, out_channels, kernel_size, stride, 0 if border is not None else padding,
            dilation, groups, bias, padding_mode, device, dtype,
        )
        self.border = border
        self.flip = flip

    def forward(self, x: Tensor) -> Tensor:
        nd = len(self.kernel_size)
        unbatched = x.dim() == nd + 1  # accepted without a batch dimension, as torch.nn.ConvNd does
        if unbatched:
            x = x.unsqueeze(0)
        padding = self.border if self.border is not None else self.padding
        if self.padding_mode != "zeros":
            pads = border_padding(x.shape[2:], self.kernel_size, self.stride, padding, self.dilation, type(self).__name__)
            x = F.pad(x, [p for lo_hi in reversed(pads) for p in lo_hi], mode=self.padding_mode)
            padding = "valid"
        y = _OPS[nd](x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups, flip=self.flip)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        extra = super().extra_repr()  # type: ignore[misc]
        if self.border is not None:
            extra += f", border={self.border!r}"
        return extra + (", flip=True" if self.flip else "")

    @classmethod
    def from_torch(cls, module: nn.Module) -> Any:
        """The cnnkit layer equal to a torch convolution: same arguments, a copy of its weights and mode."""
        if not isinstance(module, cls._torch_class):
            raise ConfigError(f"{cls.__name__}.from_torch needs a {cls._torch_class.__name__}, got {type(module).__name__}")
        conv = cls(
            module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
            module.dilation, module.groups, module.bias is not None, module.padding_mode,
            device=module.weight.device, dtype=module.weight.dtype,
        )
        conv.load_state_dict(module.state_dict())
        conv.train(module.training)
        for ours, theirs in zip(conv.parameters(), module.parameters(), strict=True):
            ours.requires_grad_(theirs.requires_grad)
        return conv


class Conv1d(_BorderConv, nn.Conv1d):
    """1D convolution layer (lecture: the convolution operator) with border modes and optional kernel flip."""

    _torch_class = nn.Conv1d


class Conv2d(_BorderConv, nn.Conv2d):
    """2D convolution layer (lecture: the convolution operator) with border modes and optional kernel flip."""

    _torch_class = nn.Conv2d


class Conv3d(_BorderConv, nn.Conv3d):
    """3D convolution layer for volumes (lecture: the convolution operator) with border modes and optional flip."""

    _torch_class = nn.Conv3d
