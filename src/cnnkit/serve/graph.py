"""The network as the explorer draws it: every leaf layer call in execution order, with the
layers whose outputs it reads (CNN Explainer's columns, for any architecture).

Names, shapes, parameters, multiply-adds and receptive fields are ``cnnkit summary``'s. The
edges come from one traced forward pass: a ``TorchFunctionMode`` tags every tensor with the
layer calls it was computed from, so an addition (a residual path) or a concatenation (an
inception block) that happens between modules gives the next layer two or more sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from cnnkit.analysis import Field, summary
from cnnkit.explain.layers import network_of

__all__ = ["INPUT", "Layer", "layer_graph", "layer_kind"]

INPUT = "input"  # the source id of the image itself (after the model's normalisation)

_KINDS = {
    "conv": (nn.modules.conv._ConvNd,),
    "linear": (nn.Linear,),
    "pool": (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
             nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d),
    "activation": (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
                   nn.Hardswish, nn.Softmax),
    "norm": (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm),
}


@dataclass(frozen=True)
class Layer:
    """One call of a leaf module: ``cnnkit summary``'s row plus the ids of the layers it reads."""

    id: str                      # the module's name, ``name#k`` for its k-th call
    type: str
    kind: str                    # conv, linear, pool, activation, norm or other
    shape: tuple[int, ...]       # the output without the batch
    parameters: int
    macs: int
    inputs: tuple[str, ...]      # layer ids (or INPUT) in execution order
    field: Field | None

    def to_json(self) -> dict[str, Any]:
        field = None if self.field is None else {
            "r": list(self.field.r), "jump": list(self.field.jump), "start": list(self.field.start)}
        return {"id": self.id, "name": self.id, "type": self.type, "kind": self.kind, "shape": list(self.shape),
                "parameters": self.parameters, "macs": self.macs, "inputs": list(self.inputs), "field": field}


def layer_kind(module: nn.Module) -> str:
    """What the explorer shows inside a layer of this type."""
    for kind, types in _KINDS.items():
        if isinstance(module, types):
            return kind
    return "other"


class _Sources(TorchFunctionMode):
    """Tags each tensor a torch function returns with the union of its arguments' tags."""

    def __init__(self) -> None:
        super().__init__()
        self._tags: dict[int, tuple[Tensor, frozenset[str]]] = {}  # the tensor is kept so its id stays unique

    def put(self, tensor: Tensor, tag: frozenset[str]) -> None:
        self._tags[id(tensor)] = (tensor, tag)

    def get(self, value: Any) -> frozenset[str]:
        entry = self._tags.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else frozenset()

    def of(self, values: Any) -> frozenset[str]:
        leaves, _ = tree_flatten(values)
        return frozenset().union(*(self.get(v) for v in leaves if isinstance(v, Tensor)))

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        tag = self.of((args, kwargs))
        if tag:
            for leaf in tree_flatten(out)[0]:
                if isinstance(leaf, Tensor):
                    self.put(leaf, tag)
        return out


def layer_graph(model: nn.Module, input_size: int, in_chans: int) -> list[Layer]:
    """Every leaf layer call of ``model`` (a loaded run's Sequential or a bare network) with its sources."""
    network = network_of(model)
    rows = {row.name: row for row in summary(network, input_size, in_chans=in_chans).rows}
    device = next((p.device for p in network.parameters()), torch.device("cpu"))
    x = torch.zeros(1, in_chans, input_size, input_size, device=device)

    sources = _Sources()
    names = {module: name for name, module in network.named_modules()}
    calls: dict[str, int] = {}
    order: dict[str, int] = {INPUT: -1}
    found: list[tuple[str, nn.Module, frozenset[str]]] = []
    pending: dict[nn.Module, list[frozenset[str]]] = {}

    def pre_hook(module: nn.Module, inputs: Any) -> None:
        pending.setdefault(module, []).append(sources.of(inputs))

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        read = pending[module].pop()
        first = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(first, Tensor):
            return
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        label = name if calls[name] == 1 else f"{name}#{calls[name]}"
        order[label] = len(order)
        found.append((label, module, read))
        for leaf in tree_flatten(output)[0]:
            if isinstance(leaf, Tensor):
                sources.put(leaf, frozenset({label}))

    leaves = [m for m in network.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(pre_hook) for m in leaves]
    handles += [m.register_forward_hook(hook) for m in leaves]
    was_training = network.training
    try:
        network.eval()
        with torch.no_grad(), sources:
            sources.put(x, frozenset({INPUT}))
            network(x)
    finally:
        network.train(was_training)
        for handle in handles:
            handle.remove()

    layers = []
    for label, module, read in found:
        row = rows.get(label)
        if row is None:
            continue
        layers.append(Layer(
            id=label, type=row.type, kind=layer_kind(module), shape=tuple(row.output_shape[1:]),
            parameters=row.parameters, macs=row.macs, inputs=tuple(sorted(read, key=order.__getitem__)),
            field=row.field,
        ))
    return layers
