"""The ground floor every package may import: a model's mode, device and dtype.

``frozen`` is how explain methods and attacks treat a network: in eval mode (BatchNorm uses its
running statistics, dropout is off) and with no parameter gradients, since only the gradient
with respect to the input is wanted; the caller's modes and flags come back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["device_of", "dtype_of", "frozen"]


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients inside; the caller's mode and flags restored after.

    Only what differs is touched: ``model.eval()`` runs when some module is training, and only
    the flags that changed are set back, so a model already in eval mode costs two passes over
    plain attributes (attacks call this once per batch).
    """
    modules = list(model.modules())
    params = _parameters_of(modules)
    modes = [m.training for m in modules]
    flags = [p.requires_grad for p in params]
    try:
        if any(modes):
            model.eval()
        for p, flag in zip(params, flags):
            if flag:
                p.requires_grad_(False)
        yield model
    finally:
        for m, training in zip(modules, modes):
            if m.training != training:
                m.training = training
        for p, flag in zip(params, flags):
            if p.requires_grad != flag:
                p.requires_grad_(flag)


def device_of(model: nn.Module) -> torch.device:
    """Where the model's first parameter (or buffer) lives; the CPU for a model with neither."""
    tensor = _first_tensor(model)
    return tensor.device if tensor is not None else torch.device("cpu")


def dtype_of(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's first parameter (or buffer); the default dtype otherwise."""
    tensor = _first_tensor(model)
    return tensor.dtype if tensor is not None and tensor.is_floating_point() else torch.get_default_dtype()


def _first_tensor(model: nn.Module) -> torch.Tensor | None:
    first = next(model.parameters(), None)
    return first if first is not None else next(model.buffers(), None)


def _parameters_of(modules: list[nn.Module]) -> list[nn.Parameter]:
    """``model.parameters()`` from the list of ``model.modules()``: same order, each once, no second walk."""
    params: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in modules:
        for p in module._parameters.values():
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params
