"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition").

``lenet5`` is the modern reading used in courses: ReLU instead of scaled tanh, max pooling
instead of trainable subsampling, full connections C1 -> C3 and a softmax classifier.
For a 1x28x28 input and 10 classes it has 61,706 parameters (conv1 is padded by 2 so that
28x28 behaves like the paper's 32x32). Inputs smaller than 16 pixels (the 8x8 digits) also
pad conv2, so the network still ends with a spatial map instead of failing.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.models._registry import register_model

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5: conv(6, 5x5) -> pool -> conv(16, 5x5) -> pool -> fc 120 -> fc 84 -> fc classes."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        input_size: int = 28,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if input_size < 4:
            raise ConfigError(f"lenet5 needs inputs of at least 4x4 pixels, got {input_size}")
        conv2_padding = 2 if input_size < 16 else 0
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, kernel_size=5, padding=2),  # C1
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                   # S2
            nn.Conv2d(6, 16, kernel_size=5, padding=conv2_padding),  # C3
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                   # S4
        )
        side = ((input_size // 2) + 2 * conv2_padding - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),                  # C5 (a full connection here)
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(120, 84),                                # F6
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))  # (N, num_classes)


@register_model
def lenet5(**kw: Any) -> LeNet5:
    """LeNet-5 (LeCun et al., 1998), modern reading: ReLU and max pooling; 61,706 parameters."""
    return LeNet5(**kw)

