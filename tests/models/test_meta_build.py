"""A model built under ``torch.device("meta")`` (``cnnkit models``, ``summary``, ``rf``, run checks) is
the exact twin of the real one: every tensor on meta, the same names, shapes, dtypes and flags,
built without running the initialisation (which on meta only costs imports) or touching the RNG."""

from __future__ import annotations

import pytest
import torch

from cnnkit.models import create_model, list_models


def _layout(model: torch.nn.Module) -> dict[str, tuple]:  # type: ignore[type-arg]
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return {name: (tuple(t.shape), t.dtype, t.requires_grad) for name, t in tensors.items()}


@pytest.mark.parametrize("name", list_models(task="classification"))
def test_meta_build_is_the_twin_of_the_cpu_build(name: str) -> None:
    kwargs = {"num_classes": 5, "input_size": 28} if name != "lenet5_1998" else {}
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    with torch.device("meta"):
        twin = create_model(name, **kwargs)
    assert torch.equal(torch.rand(4), expected)  # the meta build drew no random numbers
    assert {t.device.type for t in [*twin.parameters(), *twin.buffers()]} == {"meta"}
    assert _layout(twin) == _layout(create_model(name, **kwargs))


def test_coatnet_position_index_follows_the_default_device() -> None:
    with torch.device("meta"):
        twin = create_model("coatnet_0", input_size=32)
    real = create_model("coatnet_0", input_size=32)
    indices = [name for name, _ in real.named_buffers() if name.endswith("relative_index")]
    assert indices
    for name in indices:
        assert twin.get_buffer(name).is_meta and real.get_buffer(name).device.type == "cpu"
