"""torch.nn pools whose forward runs cnnkit.ops: max pooling with arg-max routing and average pooling.

Drop-in subclasses of nn.MaxPool2d / nn.AvgPool2d (same constructor, same attributes, same results), so a
model's pools can be swapped for the lecture's explicit maths with ``MaxPool2d.from_torch(module)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.ops.pool import avg_pool2d, max_pool2d

__all__ = ["MaxPool2d", "AvgPool2d"]


def _check_type(cls: type, module: nn.Module, base: type) -> None:
    if not isinstance(module, base):
        raise ConfigError(f"{cls.__name__}.from_torch needs a torch.nn.{base.__name__}; got {type(module).__name__}")


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d computed by cnnkit.ops.max_pool2d, with its hand-written arg-max backward (lecture: pooling)."""

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    @classmethod
    def from_torch(cls, module: nn.MaxPool2d) -> MaxPool2d:
        """The same pool as `module`, computed by cnnkit.ops."""
        _check_type(cls, module, nn.MaxPool2d)
        return cls(module.kernel_size, module.stride, module.padding, module.dilation,
                   return_indices=module.return_indices, ceil_mode=module.ceil_mode)


class AvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d computed by cnnkit.ops.avg_pool2d, with its hand-written backward (lecture: pooling)."""

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    @classmethod
    def from_torch(cls, module: nn.AvgPool2d) -> AvgPool2d:
        """The same pool as `module`, computed by cnnkit.ops."""
        _check_type(cls, module, nn.AvgPool2d)
        return cls(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode,
                   count_include_pad=module.count_include_pad, divisor_override=module.divisor_override)
