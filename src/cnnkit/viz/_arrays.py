"""Accepting numpy arrays and torch tensors alike without importing torch.

``cnnkit.viz`` imports no torch module (DESIGN.md); a tensor is recognised by its
``detach``/``numpy`` methods and copied to a numpy array on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a numpy array; torch tensors are detached and copied to the CPU first."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        x = x.detach().cpu()
        if str(x.dtype) in ("torch.bfloat16", "torch.float16"):
            # numpy has no bfloat16; float32 holds both exactly
            x = x.float()
        x = x.numpy()
    return np.asarray(x)
