"""Gradient saliency maps (Simonyan, Vedaldi & Zisserman, 2013, arXiv:1312.6034).

The class score S_c(x) is, near an image x, roughly linear: S_c(x') ~ w^T x' + b with
w = dS_c/dx. The magnitude of w says which pixels change the score most; the saliency map
keeps, per pixel, the largest magnitude over the colour channels.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnkit.explain.class_score import Target, check_batch, score_gradient
from cnnkit.modes import frozen

__all__ = ["input_gradient", "saliency", "saliency_map"]


def input_gradient(model: nn.Module, x: Tensor, target: Target = None) -> Tensor:
    """dS_c/dx, the raw gradient of the class logit with respect to the pixels, (N, C, H, W) (Simonyan et al., 2013)."""
    x = check_batch(x)
    with frozen(model):
        grad, _, _ = score_gradient(model, x, target)
    return grad


def saliency_map(grad: Tensor, *, abs: bool = True) -> Tensor:
    """Per pixel, the channel of largest |gradient|: |value| with ``abs``, else its sign kept, (N, H, W) (Simonyan et al., 2013)."""
    if abs:
        return grad.abs().amax(1)                                    # (N, H, W)
    channel = grad.abs().argmax(1, keepdim=True)                     # (N, 1, H, W)
    return grad.gather(1, channel)[:, 0]                             # (N, H, W)


def saliency(model: nn.Module, x: Tensor, target: Target = None, *, abs: bool = True) -> Tensor:
    """Image-specific class saliency max_c |dS_c/dx| per pixel, (N, H, W) (Simonyan et al., 2013).

    ``x`` is (N, C, H, W) pixels in [0, 1] on the model's device; ``target`` an int, an (N,)
    tensor of classes, or None for each image's predicted class. With ``abs=False`` each
    pixel keeps the sign of its largest-magnitude channel.
    """
    return saliency_map(input_gradient(model, x, target), abs=abs)
