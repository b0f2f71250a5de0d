"""Swap a model's convolutions and pools for cnnkit's own, so it trains on the lecture's maths.

``use_reference_ops(model)`` replaces every ``nn.Conv1d/2d/3d``, ``nn.MaxPool2d`` and
``nn.AvgPool2d`` by the cnnkit layer with the same parameters, whose forward and hand-written
backward are cnnkit.ops. The weights stay where they were and keep their names, so the
state dict, the checkpoints and the saved model are those of the ordinary model
(``cnnkit train --reference-ops``).
"""

from __future__ import annotations

from torch import nn

from cnnkit.layers.conv import Conv1d, Conv2d, Conv3d
from cnnkit.layers.pool import AvgPool2d, MaxPool2d

__all__ = ["use_reference_ops", "REPLACEMENTS"]

REPLACEMENTS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: Conv1d,
    nn.Conv2d: Conv2d,
    nn.Conv3d: Conv3d,
    nn.MaxPool2d: MaxPool2d,
    nn.AvgPool2d: AvgPool2d,
}


def use_reference_ops(model: nn.Module) -> nn.Module:
    """Replace, in place, every torch convolution and pool that cnnkit implements; returns ``model``."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            replacement = REPLACEMENTS.get(type(child))  # exact type: cnnkit's subclasses stay
            if replacement is not None:
                setattr(parent, name, replacement.from_torch(child))
    return model
