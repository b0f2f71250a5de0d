"""Shared fixtures of the layer tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


def _randomise_norms(module: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine terms, so a wrong wiring cannot hide behind 0 and 1."""
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)


@pytest.fixture
def randomise_norms() -> Callable[[torch.nn.Module], None]:
    """randomise_norms(module): every BatchNorm2d in it gets random running statistics and affine terms."""
    return _randomise_norms
