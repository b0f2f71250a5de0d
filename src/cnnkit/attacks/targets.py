"""Which class a targeted attack aims at: a seeded random other class (Carlini & Wagner, 2017),
the least likely class (Kurakin et al., 2017), or one class for every image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnkit.errors import ConfigError

__all__ = ["choose_targets"]


def choose_targets(how: str, model: nn.Module, x: Tensor, y: Tensor, classes: Sequence[str], *,
                   seed: int = 0) -> Tensor:
    """Target classes (N,) for ``how``: 'random', 'least-likely' (or 'll'), a class index or a class name."""
    choice = how.strip().lower()
    if choice == "random":  # a seeded class other than the true one
        generator = torch.Generator().manual_seed(seed)
        shift = torch.randint(1, len(classes), (len(y),), generator=generator).to(y.device)
        return (y + shift) % len(classes)
    if choice in ("least-likely", "ll"):
        from cnnkit.attacks.least_likely import least_likely_class

        return least_likely_class(model, x)
    if choice.lstrip("-").isdigit():
        index = int(choice)
    else:
        lowered = [c.lower() for c in classes]
        if choice not in lowered:
            raise ConfigError(f"target {how!r} is no class of this model; give random, least-likely, "
                              f"an index 0..{len(classes) - 1} or one of: {', '.join(classes)}")
        index = lowered.index(choice)
    if not 0 <= index < len(classes):
        raise ConfigError(f"target {index} is out of range: the model has classes 0..{len(classes) - 1}")
    return torch.full_like(y, index)
