"""Where a run computes: CUDA when present, else the CPU; and which mixed precision it uses.

Mixed precision (Micikevicius et al., 2018, arXiv:1710.03740): float16 with loss scaling on
CUDA GPUs without bfloat16, bfloat16 on newer GPUs and on CPUs with native bfloat16
instructions (AVX512-BF16, AMX), where it roughly doubles the speed of small conv nets.
What ``auto`` picks can be pinned for a whole shell or test session with the environment
variable ``CNNKIT_AMP`` (``off`` trains in float32 as on a CPU without bfloat16).
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from cnnkit.errors import ConfigError
from cnnkit.schema import shown

__all__ = ["resolve_device", "resolve_amp", "cpu_name"]


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; asking for cuda without a GPU raises."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N (--device), got {shown(name)}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device='{name}' (--device {name}) asked for, but PyTorch sees no CUDA GPU; use device='cpu'")
    return torch.device(name)


def _cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``mode`` on ``device``, or None for full float32."""
    if mode == "off":
        return None
    if mode == "auto" and os.environ.get("CNNKIT_AMP", "auto") != "auto":
        mode = os.environ["CNNKIT_AMP"]
        if mode not in ("off", "bf16", "fp16"):
            raise ConfigError(f"CNNKIT_AMP={shown(mode)} is not one of off, bf16, fp16 (or auto)")
        return resolve_amp(mode, device)
    if mode == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if _cpu_has_native_bf16() else None
    if mode == "fp16" and device.type != "cuda":
        raise ConfigError("amp='fp16' (--amp fp16) needs a CUDA GPU; on the CPU use amp 'bf16' or 'off'")
    return torch.bfloat16 if mode == "bf16" else torch.float16


def cpu_name() -> str:
    """The CPU's model name, recorded beside every timing (reports and benchmarks)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
