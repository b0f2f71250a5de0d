"""LeNet-5 as published (LeCun, Bottou, Bengio, Haffner, 1998, "Gradient-based learning
applied to document recognition", Proc. IEEE 86(11); section II.B and appendix A).

``lenet5_1998`` follows the paper layer by layer, where ``lenet5`` is the modern reading:

- input 32x32; a 28x28 image (MNIST, Fashion-MNIST) is padded by 2 inside the model, which
  is how the paper placed its 20x20 digits in the middle of a 32x32 field;
- every squashing function is the scaled tanh f(a) = 1.7159 tanh(2a/3) (appendix A);
- S2 and S4 are trainable subsampling: each map's 2x2 sum times a trainable coefficient plus
  a trainable bias, then f;
- C3 connects each of its 16 maps to a subset of S2's 6 maps (Table I). The fixed (16, 6)
  connection mask scatters the 60 trainable 5x5 kernels into a full conv weight at every
  forward, so absent connections are exactly zero and ``parameters()`` counts only the
  1,516 the paper counts (not 2,416 with 900 dead ones);
- the output layer is 10 Euclidean RBF units y_i = sum_j (x_j - w_ij)^2 whose prototypes
  w_i are FIXED 7x12 bitmaps of +1/-1 (a buffer, not a parameter). The paper draws
  stylised ASCII characters; here a tiny 7x12 font of the digits '0'..'9' is written out
  below. Fashion-MNIST's classes reuse the digit bitmaps as codes: class k's prototype is
  the bitmap of digit k;
- weights and biases start uniform in +-2.4 / fan-in (appendix A).

Trainable parameters, as in the paper: C1 156, S2 12, C3 1,516, S4 32, C5 48,120,
F6 10,164 = 60,000 (the RBF prototypes are fixed).

For cnnkit, ``forward`` returns logits = -y (the negative penalties), so argmax accuracy and
the softmax-based tools work unchanged. Training uses the paper's loss (eq. 9) through
``paper_loss``; ``task_for`` (train/task.py) picks it up for any network that defines it, so
``cnnkit train --model lenet5_1998`` trains on it (label smoothing does not apply and is refused).
The penalties are sums of 84 squares, so their gradients are large: the paper trained with
stochastic diagonal Levenberg-Marquardt; with cnnkit's SGD use ``--lr 0.01`` (Fashion-MNIST,
3 epochs: 87.3% test accuracy, against 64.7% at the default 0.05). The test loss that
``evaluate`` reports stays the cross-entropy of the logits -y, not eq. 9.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.models._registry import register_model

__all__ = ["LeNet5_1998", "lenet5_1998", "C3_TABLE", "DIGIT_BITMAPS", "scaled_tanh"]

# Table I of the paper: the S2 maps each C3 map takes as input.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),           # 3 contiguous
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),  # 4 contiguous
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),                                     # 4 discontinuous
    (0, 1, 2, 3, 4, 5),                                                           # all 6
)

# The RBF prototypes: one 7-wide, 12-high bitmap per class; '#' is +1, '.' is -1.
DIGIT_BITMAPS: tuple[str, ...] = (
    "..###.. .#...#. #.....# #.....# #.....# #.....# #.....# #.....# #.....# #.....# .#...#. ..###..",
    "...#... ..##... .#.#... ...#... ...#... ...#... ...#... ...#... ...#... ...#... ...#... .#####.",
    "..###.. .#...#. #.....# ......# .....#. ....#.. ...#... ..#.... .#..... #...... #...... #######",
    ".#####. #.....# ......# ......# .....#. ..###.. .....#. ......# ......# ......# #.....# .#####.",
    "....##. ...#.#. ..#..#. .#...#. #....#. #....#. ####### .....#. .....#. .....#. .....#. .....#.",
    "####### #...... #...... #...... ######. ......# ......# ......# ......# ......# #.....# .#####.",
    "..####. .#..... #...... #...... #.####. ##....# #.....# #.....# #.....# #.....# .#...#. ..###..",
    "####### ......# .....#. .....#. ....#.. ....#.. ...#... ...#... ..#.... ..#.... ..#.... ..#....",
    "..###.. .#...#. #.....# #.....# .#...#. ..###.. .#...#. #.....# #.....# #.....# .#...#. ..###..",
    "..###.. .#...#. #.....# #.....# #.....# #....## .####.# ......# ......# .....#. ....#.. .###...",
)
MAX_CLASSES = len(DIGIT_BITMAPS)
PAPER_J = 1.0  # the positive constant j of eq. 9; the paper gives none (see paper_loss)


def scaled_tanh(a: Tensor) -> Tensor:
    """The paper's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3 (appendix A)."""
    return 1.7159 * torch.tanh(a * (2.0 / 3.0))


def _bitmap_codes(num_classes: int) -> list[list[float]]:
    """(num_classes, 84) +1/-1 codes read row by row from the 7x12 bitmaps."""
    return [[1.0 if c == "#" else -1.0 for c in art.replace(" ", "")] for art in DIGIT_BITMAPS[:num_classes]]


def _paper_init(tensor: Tensor, fan_in: int) -> None:
    """Uniform in +-2.4 / fan-in, the paper's initialisation (appendix A)."""
    bound = 2.4 / fan_in
    nn.init.uniform_(tensor, -bound, bound)


class TrainableSubsampling(nn.Module):
    """S2/S4: each map's 2x2 sum times a trainable coefficient plus a trainable bias, then f."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.coefficient = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        _paper_init(self.coefficient, 4)
        _paper_init(self.bias, 4)

    def forward(self, x: Tensor) -> Tensor:
        summed = 4.0 * F.avg_pool2d(x, 2)  # (N, C, H/2, W/2): the sum of each 2x2 block
        return scaled_tanh(summed * self.coefficient[:, None, None] + self.bias[:, None, None])


class PartialConv2d(nn.Module):
    """C3: a 5x5 convolution in which output map o sees only the input maps table[o]."""

    def __init__(self, table: tuple[tuple[int, ...], ...], in_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        out_channels = len(table)
        mask = torch.zeros(out_channels, in_channels, dtype=torch.bool)
        for o, inputs in enumerate(table):
            mask[o, list(inputs)] = True
        self.register_buffer("mask", mask, persistent=False)
        connections = sum(len(inputs) for inputs in table)  # 60; counted in Python, so meta works
        self.kernel_size = kernel_size
        # One 5x5 kernel per connection, in row-major (output, input) order of the mask.
        self.weight = nn.Parameter(torch.empty(connections, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        for o, inputs in enumerate(table):  # fan-in differs per map: 75, 100 or 150
            start = sum(len(t) for t in table[:o])
            _paper_init(self.weight.data[start:start + len(inputs)], len(inputs) * kernel_size**2)
            _paper_init(self.bias.data[o:o + 1], len(inputs) * kernel_size**2)

    def full_weight(self) -> Tensor:
        """(out, in, k, k): the trainable kernels where connected, exactly 0 elsewhere."""
        k = self.kernel_size
        full = self.weight.new_zeros(*self.mask.shape, k, k)
        return full.masked_scatter(self.mask[:, :, None, None].expand_as(full), self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.full_weight(), self.bias)


class EuclideanRBF(nn.Module):
    """Output units y_i = sum_j (x_j - w_ij)^2 with fixed prototypes w (a buffer)."""

    def __init__(self, prototypes: Tensor) -> None:
        super().__init__()
        self.register_buffer("prototypes", prototypes)  # (classes, 84), never trained

    def forward(self, x: Tensor) -> Tensor:
        diff = x[:, None, :] - self.prototypes[None]     # (N, classes, 84)
        return diff.pow(2).sum(-1)                       # (N, classes) penalties


class LeNet5_1998(nn.Module):
    """LeNet-5 as in the 1998 paper: C1 S2 C3 S4 C5 F6 and a fixed Euclidean RBF output."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        input_size: int = 32,
        loss_j: float = PAPER_J,
    ) -> None:
        super().__init__()
        if input_size not in (32, 28):
            raise ConfigError(
                f"lenet5_1998 takes 32x32 inputs as in the paper, or 28x28 (padded by 2 to 32); got {input_size}"
            )
        if in_chans < 1:  # the paper reads greyscale; colour images give C1 more input maps
            raise ConfigError(f"lenet5_1998 needs in_chans >= 1 (1: greyscale as in the paper), got {in_chans}")
        if not 1 <= num_classes <= MAX_CLASSES:
            raise ConfigError(
                f"lenet5_1998 has {MAX_CLASSES} RBF prototype bitmaps, so at most {MAX_CLASSES} classes; got {num_classes}"
            )
        if loss_j <= 0:
            raise ConfigError(f"lenet5_1998's loss constant j must be positive, got {loss_j}")
        self.loss_j = float(loss_j)
        self.pad = (32 - input_size) // 2
        self.c1 = nn.Conv2d(in_chans, 6, kernel_size=5)        # (N, 6, 28, 28)
        self.s2 = TrainableSubsampling(6)                      # (N, 6, 14, 14)
        self.c3 = PartialConv2d(C3_TABLE, 6)                   # (N, 16, 10, 10)
        self.s4 = TrainableSubsampling(16)                     # (N, 16, 5, 5)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)            # (N, 120, 1, 1)
        self.f6 = nn.Linear(120, 84)                           # (N, 84)
        self.rbf = EuclideanRBF(torch.tensor(_bitmap_codes(num_classes)))  # (N, classes)
        for layer in (self.c1, self.c5, self.f6):
            fan_in = layer.weight[0].numel()
            _paper_init(layer.weight, fan_in)
            _paper_init(layer.bias, fan_in)

    def penalties(self, x: Tensor) -> Tensor:
        """The RBF outputs y (N, classes): squared distances of F6's state to each prototype."""
        if self.pad:
            x = F.pad(x, (self.pad,) * 4)                      # (N, 1, 32, 32)
        x = scaled_tanh(self.c1(x))  # the paper squashes every convolution's output with f
        x = self.s2(x)
        x = scaled_tanh(self.c3(x))
        x = self.s4(x)
        x = scaled_tanh(self.c5(x)).flatten(1)                 # (N, 120)
        x = scaled_tanh(self.f6(x))                            # (N, 84)
        return self.rbf(x)

    def forward(self, x: Tensor) -> Tensor:
        return -self.penalties(x)  # (N, classes) logits: the smallest penalty wins

    def paper_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The paper's loss (eq. 9) from ``output`` = -y, averaged over the batch.

        E = mean_p [ y_D + log(exp(-j) + sum_i exp(-y_i)) ], D the correct class. The first
        term pulls F6's state to the correct prototype; the second pushes the other classes'
        penalties up, but only those not already well above j, which the paper says prevents
        penalties that are already very large from being pushed further up. The paper leaves
        j's value open; we use j = 1 (``loss_j``): one of the 84 code units off by 1, so only
        classes that really compete with the correct one are pushed.
        """
        output = output.float()
        constant = output.new_full((output.shape[0], 1), -self.loss_j)
        competition = torch.logsumexp(torch.cat([output, constant], dim=1), dim=1)  # log(e^-j + sum e^-y_i)
        return (competition - output.gather(1, target[:, None]).squeeze(1)).mean()


@register_model
def lenet5_1998(**kw: Any) -> LeNet5_1998:
    """LeNet-5 as published (LeCun et al., 1998): tanh, trainable subsampling, C3 table, RBF output; 60,000 parameters."""
    return LeNet5_1998(**kw)

