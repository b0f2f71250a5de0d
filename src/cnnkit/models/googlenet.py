"""GoogLeNet, Inception v1 (Szegedy et al., 2015, "Going deeper with convolutions", arXiv:1409.4842).

An Inception block runs four branches side by side on the same input and concatenates their
outputs along the channels: a 1x1 convolution; a 1x1 reduction then a 3x3; a 1x1 reduction then
a "5x5"; a 3x3 max-pool then a 1x1 projection. The 1x1 reductions are the point of the design:
they shrink the channels before the expensive convolutions, so nine blocks cost fewer
parameters (6.6 M) than AlexNet (61 M). The blocks come from ``cnnkit.layers``:
``ConvBlock``, ``Inception`` and ``InceptionAux``.

The layout is the de-facto standard one of torchvision's ``googlenet``, not the paper's
original: every convolution is followed by BatchNorm (Ioffe & Szegedy, 2015, arXiv:1502.03167,
eps 0.001) and has no bias, the "5x5" branch uses a 3x3 kernel, and there is no local response
normalisation. State-dict keys follow that layout (``conv1.conv``, ``conv1.bn``,
``inception3a.branch2.1.conv``, ``aux1.fc2``, ``fc``, ...), so its ImageNet weights load by name.
At 3x224x224 and 1000 classes the network has 6,624,904 parameters without the auxiliary
classifiers (the published figure) and 13,004,888 with them. torchvision's ImageNet weights
were ported from TensorFlow and expect inputs scaled to [-1, 1]; torchvision's
``transform_input`` re-maps ImageNet-normalised inputs for them, cnnkit leaves that to the
``Normalize`` layer in front of the model.

Auxiliary classifiers (the paper's section 5): ``aux1`` after inception 4a and ``aux2`` after
inception 4d, each average-pool to 4x4, 1x1 convolution (128), fc 1024, dropout 0.7, fc classes.
They only help training. ``forward`` always returns the main logits (N, classes), in both modes,
so every training loop and attack sees an ordinary classifier. In training mode the auxiliary
logits are kept on the model as ``model.aux_logits = (aux1, aux2)``, each (N, classes); a loss
adds their cross-entropy with weight 0.3, as the paper does (``ClassificationTask`` does this).
In eval mode, or with ``aux=False``, ``model.aux_logits`` is None.

Small inputs: below 64 pixels the stem is one 3x3 convolution, stride 1, followed by the two
stem convolutions with no max-pool between them (the CIFAR reading, as in ``resnet``), so a
28x28 image reaches inception 3a at 28x28 instead of 4x4. Any of the four stride-2 max-pools
whose output would be smaller than 2 pixels is left out (for 224 or 64 pixels none is). The
auxiliary heads need a map of at least 4 pixels at inception 4a and are left out below that
(``aux1``/``aux2`` are None), e.g. for a 4x4 input. A 1x28x28 image passes 28 -> 14 (3b) -> 7 (4e).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.layers import ConvBlock, Inception, InceptionAux
from cnnkit.models._checks import check_classifier_options
from cnnkit.models._registry import register_model

__all__ = ["GoogLeNet", "googlenet"]

_SMALL_INPUT = 64   # pixels: below this, the stride-1 3x3 stem without max-pools
_MIN_POOLED = 2     # pixels: a stride-2 pool whose output would be smaller is left out
_AUX_MIN = 4        # pixels: the auxiliary heads pool to 4x4, so they need at least this at 4a
_AUX_WEIGHT = 0.3   # the paper's weight of each auxiliary loss


def _reduction_pool(size: int, kernel_size: int) -> tuple[nn.Module, int]:
    """A stride-2 max-pool (ceil mode) and its output size, or the identity where that would fall below 2 pixels."""
    out = -(-(size - kernel_size) // 2) + 1  # ceil((size - k) / 2) + 1
    if (out - 1) * 2 >= size:  # ceil mode drops a last window that starts past the input
        out -= 1
    if size < kernel_size or out < _MIN_POOLED:
        return nn.Identity(), size
    return nn.MaxPool2d(kernel_size, stride=2, ceil_mode=True), out


class GoogLeNet(nn.Module):
    """GoogLeNet / Inception v1 (Szegedy et al., 2015) with BatchNorm: stem, nine Inception blocks, avg-pool, fc."""

    aux_logits: tuple[Tensor, Tensor] | None

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        input_size: int = 224,
        dropout: float = 0.2,
        aux_dropout: float = 0.7,
        aux: bool = True,
    ) -> None:
        super().__init__()
        check_classifier_options(
            "googlenet", dropout=dropout, num_classes=num_classes, in_chans=in_chans, input_size=input_size
        )
        if not 0.0 <= aux_dropout < 1.0:
            raise ConfigError(f"googlenet aux_dropout must be in [0, 1), got {aux_dropout}")

        size = input_size
        if input_size < _SMALL_INPUT:
            self.conv1 = ConvBlock(in_chans, 64, 3, padding=1)  # (N, 64, H, W)
            self.maxpool1: nn.Module = nn.Identity()
            self.maxpool2: nn.Module = nn.Identity()
        else:
            self.conv1 = ConvBlock(in_chans, 64, 7, stride=2, padding=3)  # (N, 64, H/2, W/2)
            size = (size - 1) // 2 + 1
            self.maxpool1, size = _reduction_pool(size, 3)
        self.conv2 = ConvBlock(64, 64, 1)
        self.conv3 = ConvBlock(64, 192, 3, padding=1)
        if input_size >= _SMALL_INPUT:
            self.maxpool2, size = _reduction_pool(size, 3)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)      # 256 channels
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)    # 480
        self.maxpool3, size = _reduction_pool(size, 3)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)     # 512
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)    # 512
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)    # 512
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)    # 528
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)  # 832
        aux_size = size
        self.maxpool4, size = _reduction_pool(size, 2)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)  # 832
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)  # 1024

        use_aux = aux and aux_size >= _AUX_MIN
        self.aux1 = InceptionAux(512, num_classes, aux_dropout) if use_aux else None
        self.aux2 = InceptionAux(528, num_classes, aux_dropout) if use_aux else None
        self.aux_logits = None

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        # He et al. (2015) for the convolutions, as in resnet: the pre-BatchNorm variance starts near 1,
        # the running statistics' initial value, so eval mode is sane from the first epochs (the
        # standard layout's std-0.01 init leaves it ~100x smaller). Linear layers: normal, std 0.01.
        if next(self.parameters()).is_meta:
            # A meta-device twin (cnnkit models, summary, rf) has no values to set, and torch's meta
            # normal_ is a Python reference kernel whose first call imports torch._dynamo (~1 s).
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def __getstate__(self) -> dict[str, Any]:
        # The stored auxiliary logits belong to one step's graph; copies and pickles start without them.
        state = dict(super().__getstate__())
        state["aux_logits"] = None
        return state

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool1(self.conv1(x))                      # (N, 64, H/4, W/4); (N, 64, H, W) for small inputs
        x = self.maxpool2(self.conv3(self.conv2(x)))          # (N, 192, H/8, W/8)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # (N, 480, H/16, W/16)
        x = self.inception4a(x)                               # (N, 512, H/16, W/16)
        keep_aux = self.training and self.aux1 is not None and self.aux2 is not None
        aux1 = self.aux1(x) if keep_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, H/16, W/16)
        aux2 = self.aux2(x) if keep_aux else None
        x = self.maxpool4(self.inception4e(x))                # (N, 832, H/32, W/32)
        x = self.inception5b(self.inception5a(x))             # (N, 1024, H/32, W/32)
        self.aux_logits = (aux1, aux2) if keep_aux else None
        x = self.avgpool(x).flatten(1)                        # (N, 1024)
        return self.fc(self.dropout(x))                       # (N, num_classes)


@register_model
def googlenet(**kw: Any) -> GoogLeNet:
    """GoogLeNet / Inception v1 (Szegedy et al., 2015) with BatchNorm; 6,624,904 parameters without the aux heads."""
    return GoogLeNet(**kw)
