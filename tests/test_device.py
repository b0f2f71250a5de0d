"""resolve_device: the names --device takes, each bad one refused in one ConfigError line."""

from __future__ import annotations

import pytest
import torch

from cnnkit.device import resolve_device
from cnnkit.errors import ConfigError


def test_auto_and_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("name", ["cudaa", "gpu", "cuda:x", "", "mps"])
def test_unknown_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_says_so(name: str) -> None:
    with pytest.raises(ConfigError, match="PyTorch sees no CUDA GPU"):
        resolve_device(name)
