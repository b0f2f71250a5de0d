"""nn.Modules built on cnnkit.ops or torch: normalisation, border-mode convolutions, pools, unshared layers, and the
residual, inception, MBConv and relative-attention blocks the model families stack."""

from cnnkit.layers.attention import RelativeAttention2d, TransformerBlock, relative_position_index
from cnnkit.layers.conv import Conv1d, Conv2d, Conv3d
from cnnkit.layers.inception import ConvBlock, Inception, InceptionAux
from cnnkit.layers.local import LocallyConnected1d, LocallyConnected2d
from cnnkit.layers.mbconv import MBConvBlock
from cnnkit.layers.normalize import Normalize
from cnnkit.layers.pool import AvgPool2d, MaxPool2d
from cnnkit.layers.residual import BasicBlock, Bottleneck, projection_shortcut

__all__ = [
    "Normalize", "Conv1d", "Conv2d", "Conv3d", "LocallyConnected1d", "LocallyConnected2d", "MaxPool2d", "AvgPool2d",
    "projection_shortcut", "BasicBlock", "Bottleneck", "ConvBlock", "Inception", "InceptionAux",
    "MBConvBlock", "relative_position_index", "RelativeAttention2d", "TransformerBlock",
]
