"""How shift-invariant a trained CNN really is: predictions under every translation of up to N pixels.

The lecture's claim "we can detect Roger wherever he is" holds for convolution alone, which is
shift-*equivariant*; subsampling (stride, pooling) breaks it, so a whole network is invariant only
to shifts by multiples of its total stride, and only where borders do not matter. Two papers
measured how far real networks are from the claim:

- Azulay & Weiss, "Why do deep convolutional networks generalize so poorly to small image
  transformations?" (JMLR 2019, arXiv:1805.12177): the probability of the right class jumps
  between one-pixel shifts ("jaggedness"), and the top-1 prediction changes for a noticeable share
  of one-pixel steps.
- Zhang, "Making convolutional networks shift-invariant again" (ICML 2019, arXiv:1904.11486):
  *consistency*, the probability that two random shifts of an image get the same class.

``shift_consistency`` evaluates the model on every shift (dy, dx) in [-N, N]^2 of each image,
either circular (``torch.roll``: nothing leaves the frame, so only subsampling and the borders of
the network's own padding break invariance) or zero-padded (the content moves and black fills in,
what a camera sees when the object moves). Consistency is computed exactly, over all pairs of
distinct shifts, rather than estimated from random pairs as Zhang does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.modes import device_of, frozen
from cnnkit.progress import Progress

__all__ = ["SHIFT_MODES", "ShiftResult", "shift_consistency", "shift_image"]

SHIFT_MODES = ("circular", "zeros")


def shift_image(x: Tensor, dy: int, dx: int, mode: str = "circular") -> Tensor:
    """``x`` (..., H, W) moved down by ``dy`` and right by ``dx`` pixels: rolled round, or with zeros filling in."""
    if mode == "circular":
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    if mode != "zeros":
        raise ConfigError(f"shift mode must be one of {', '.join(SHIFT_MODES)}, got {mode!r}")
    height, width = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dy) >= height or abs(dx) >= width:
        return out
    out[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        x[..., max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return out


@dataclass(frozen=True)
class ShiftResult:
    """Predictions and the true class's probability of every image at every shift (dy, dx).

    Grids are indexed ``[dy + N, dx + N]``; ``shifts`` lists the offsets -N..N of one axis.
    """

    mode: str
    shifts: tuple[int, ...]
    predictions: Tensor   # (n, S, S) long: the predicted class at each shift
    true_prob: Tensor     # (n, S, S) float: softmax probability of the label at each shift
    labels: Tensor        # (n,)

    @property
    def centre(self) -> int:
        return len(self.shifts) // 2

    @property
    def accuracy(self) -> Tensor:
        """(S, S): top-1 accuracy at each shift."""
        return (self.predictions == self.labels[:, None, None]).float().mean(0)

    @property
    def agreement(self) -> Tensor:
        """(S, S): share of images whose prediction at the shift equals the unshifted one."""
        c = self.centre
        return (self.predictions == self.predictions[:, c:c + 1, c:c + 1]).float().mean(0)

    @property
    def consistency(self) -> float:
        """Zhang (2019): probability that two different shifts of an image get the same class, over all pairs."""
        n, s = self.predictions.shape[0], self.predictions[0].numel()
        flat = self.predictions.reshape(n, s)
        counts = torch.zeros(n, int(flat.max()) + 1, dtype=torch.float64).scatter_add_(
            1, flat, torch.ones_like(flat, dtype=torch.float64))
        return float(((counts * (counts - 1)).sum(1) / (s * (s - 1))).mean())

    @property
    def stable(self) -> float:
        """Share of images whose prediction is the same at every shift."""
        flat = self.predictions.reshape(self.predictions.shape[0], -1)
        return float((flat == flat[:, :1]).all(1).float().mean())

    @property
    def flip_rate(self) -> float:
        """Azulay & Weiss (2019): probability that a one-pixel step (horizontal or vertical) changes the top-1 class."""
        here, there = _one_pixel_steps(self.predictions)
        return float((here != there).float().mean())

    @property
    def jaggedness(self) -> float:
        """Azulay & Weiss (2019): mean absolute change of the true class's probability over a one-pixel step."""
        here, there = _one_pixel_steps(self.true_prob)
        return float((here - there).abs().mean())

    def summary(self) -> dict[str, Any]:
        """The scalar measures and the grids, as plain JSON values."""
        accuracy = self.accuracy
        c = self.centre
        return {
            "mode": self.mode, "max_shift": self.shifts[-1], "images": int(self.labels.numel()),
            "accuracy_unshifted": float(accuracy[c, c]), "accuracy_mean": float(accuracy.mean()),
            "accuracy_worst": float(accuracy.min()), "consistency": self.consistency, "stable": self.stable,
            "flip_rate": self.flip_rate, "jaggedness": self.jaggedness,
            "shifts": list(self.shifts), "accuracy_grid": accuracy.tolist(), "agreement_grid": self.agreement.tolist(),
            "true_prob_grid": self.true_prob.mean(0).tolist(),
        }


def _one_pixel_steps(grids: Tensor) -> tuple[Tensor, Tensor]:
    """Both ends of every one-pixel step, down and right, in (n, S, S) grids: two (n, 2 S (S - 1)) tensors."""
    here = torch.cat([grids[:, :-1, :].flatten(1), grids[:, :, :-1].flatten(1)], 1)
    there = torch.cat([grids[:, 1:, :].flatten(1), grids[:, :, 1:].flatten(1)], 1)
    return here, there


@torch.no_grad()
def shift_consistency(
    model: nn.Module, x: Tensor, y: Tensor, *, max_shift: int = 4, mode: str = "circular",
    batch_size: int = 512, progress: Progress | None = None,
) -> ShiftResult:
    """Classify every shift of ``x`` (N, C, H, W) in [0, 1] by up to ``max_shift`` pixels (Azulay & Weiss 2019; Zhang 2019)."""
    if mode not in SHIFT_MODES:
        raise ConfigError(f"shift mode must be one of {', '.join(SHIFT_MODES)}, got {mode!r}")
    if x.dim() != 4 or y.shape != x.shape[:1]:
        raise ConfigError(f"x must be (N, C, H, W) with one label per image, got {tuple(x.shape)} and {tuple(y.shape)}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or not 1 <= max_shift < min(x.shape[-2:]):
        raise ConfigError(f"max_shift must be an integer from 1 to {min(x.shape[-2:]) - 1} pixels "
                          f"(less than the image side), got {max_shift!r}")
    shifts = tuple(range(-max_shift, max_shift + 1))
    count = len(shifts)
    device = device_of(model)
    predictions = torch.empty(len(x), count, count, dtype=torch.long)
    true_prob = torch.empty(len(x), count, count)
    done, total = 0, count * count
    with frozen(model):
        for i, dy in enumerate(shifts):
            for j, dx in enumerate(shifts):
                for start in range(0, len(x), batch_size):
                    batch = shift_image(x[start:start + batch_size].to(device), dy, dx, mode)
                    probs = model(batch).float().softmax(1).cpu()  # (B, K)
                    labels = y[start:start + batch_size].cpu()
                    if int(labels.max()) >= probs.shape[1] or int(labels.min()) < 0:
                        raise ConfigError(f"labels must be class indices from 0 to {probs.shape[1] - 1} (the model's "
                                          f"outputs), got {int(labels.min())}..{int(labels.max())}")
                    predictions[start:start + len(batch), i, j] = probs.argmax(1)
                    true_prob[start:start + len(batch), i, j] = probs.gather(1, labels[:, None])[:, 0]
                done += 1
                if progress is not None:
                    progress(done, total)
    return ShiftResult(mode=mode, shifts=shifts, predictions=predictions, true_prob=true_prob, labels=y.cpu())
