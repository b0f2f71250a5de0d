"""Per-layer summary of a network: output shape, parameters, multiply-adds and receptive field.

Multiply-adds (MACs) are counted by ``torch.utils.flop_counter.FlopCounterMode`` on the aten
operations the forward pass runs, so a matrix product inside a module's ``forward`` (attention's
``q @ k.T``, ``scaled_dot_product_attention``) is counted as well as convolutions and linear
layers; MACs = FLOPs / 2. Like the published figures (ResNet-50: 4.09 GMACs at 224x224) they
count convolutions and matrix products only, not BatchNorm, activations, pooling or additions.
A convolution costs out_elements * C_in / groups * kh * kw; a linear layer in * out per sample.

A layer's MACs are the count that grew while that leaf module ran; work done between modules
(a matmul in a container's ``forward``) is in the total but in no row. MACs are per sample.

Parameters are counted twice: all of them (what the file holds, what training updates) and
those of the modules the evaluation forward runs. They differ where a network has modules
only training uses: GoogLeNet's auxiliary classifiers hold 13,004,888 - 6,624,904 parameters
and no MACs, and the published 6.6 million excludes them. A module counts as run if it was
called; a parameter read directly by another module's forward (weight tying) is counted with
the module that owns it.

Weight sharing counted (the lecture's argument for convolution): beside each convolution the
summary gives the weights it holds (C_out * C_in / groups * k^d, one kernel bank slid over the
whole map), the weights a locally connected layer between the same input and output would need
(one kernel bank per output position: H_out * W_out times as many) and those of a fully
connected layer (every input element to every output element: in_elements * out_elements).
Biases are left out of all three, so the ratios are those of the weights alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnkit.analysis.shapes import input_shape
from cnnkit.analysis.fields import Field, trace_fields
from cnnkit.errors import ConfigError

__all__ = ["Summary", "SummaryRow", "WeightSharing", "summary"]


@dataclass(frozen=True)
class SummaryRow:
    """One call of a leaf module (``#2`` marks a second call of the same module)."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    parameters: int        # counted at the first call only
    macs: int              # multiply-adds per sample
    field: Field | None    # receptive field of the output; None where the tracker lost it
    sharing: WeightSharing | None = None  # convolutions only: shared / locally connected / dense weights


@dataclass(frozen=True)
class WeightSharing:
    """A convolution's weights against an unshared (locally connected) and a fully connected layer
    between the same input and output shapes; biases excluded."""

    shared: int   # C_out * C_in / groups * prod(kernel): the kernel bank, reused at every position
    local: int    # shared * prod(output spatial size): a kernel bank per output position
    dense: int    # prod(input shape) * prod(output shape): every input element to every output element


@dataclass(frozen=True)
class Summary:
    """Rows in execution order and the totals of the whole network."""

    input_shape: tuple[int, int, int]
    batch: int
    rows: tuple[SummaryRow, ...]
    parameters: int        # all parameters of the model, each once
    trainable: int
    macs: int              # per sample, including work outside leaf modules
    eval_parameters: int   # of the modules the (eval-mode) forward ran, each once
    not_run: tuple[str, ...]  # outermost modules holding parameters that the forward never called

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def sharing(self) -> WeightSharing | None:
        """Totals over the convolutions' first calls (None for a network without convolutions)."""
        counted = [row.sharing for row in self.rows if row.sharing is not None]
        if not counted:
            return None
        return WeightSharing(shared=sum(s.shared for s in counted), local=sum(s.local for s in counted),
                             dense=sum(s.dense for s in counted))


def summary(
    model: nn.Module, input_size: int | Sequence[int], *, in_chans: int | None = None, batch: int = 1
) -> Summary:
    """Summarise ``model`` on a batch of zeros of ``input_size`` (H, (H, W) or (C, H, W)).

    The model runs on its own device in eval mode (restored afterwards); build it under
    ``torch.device("meta")`` and even ResNet-152 costs no memory and almost no time.
    """
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    shape = input_shape(model, input_size, in_chans)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros((batch, *shape), device=device)

    counter = FlopCounterMode(display=False)
    names = {module: name for name, module in model.named_modules()}
    calls: dict[str, int] = {}
    before: dict[nn.Module, list[int]] = {}
    rows: list[tuple[str, str, tuple[int, ...], int, int]] = []
    sharing: dict[str, WeightSharing] = {}

    def pre_hook(module: nn.Module, _inputs: object) -> None:
        before.setdefault(module, []).append(counter.get_total_flops())

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:  # type: ignore[type-arg]
        flops = counter.get_total_flops() - before[module].pop()
        first = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(first, torch.Tensor):
            return
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        label = name if calls[name] == 1 else f"{name}#{calls[name]}"
        params = sum(p.numel() for p in module.parameters(recurse=False)) if calls[name] == 1 else 0
        rows.append((label, type(module).__name__, tuple(first.shape), params, flops // 2 // batch))
        if calls[name] == 1 and isinstance(module, nn.modules.conv._ConvNd) and not module.transposed and inputs:
            sharing[label] = _weight_sharing(module, tuple(inputs[0].shape[1:]), tuple(first.shape[1:]))

    ran: set[nn.Module] = set()
    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(pre_hook) for m in leaves]
    handles += [m.register_forward_hook(hook) for m in leaves]
    handles += [m.register_forward_pre_hook(lambda module, _inputs: ran.add(module)) for m in model.modules()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(x)
    except RuntimeError as err:
        message = str(err).strip().splitlines()[0]
        raise ConfigError(f"the model cannot run on a {'x'.join(map(str, shape))} input: {message}") from None
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    fields = {row.name: row.field for row in trace_fields(model, x[:1])}
    used = {id(p): p.numel() for m in model.modules() if m in ran for p in m.parameters(recurse=False)}
    return Summary(
        input_shape=shape,
        batch=batch,
        rows=tuple(SummaryRow(*row, field=fields.get(row[0]), sharing=sharing.get(row[0])) for row in rows),
        parameters=sum(p.numel() for p in model.parameters()),
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        macs=counter.get_total_flops() // 2 // batch,
        eval_parameters=sum(used.values()),
        not_run=_not_run(model, ran),
    )


def _weight_sharing(conv: nn.modules.conv._ConvNd, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> WeightSharing:
    """Shared, locally connected and fully connected weight counts for one convolution's (C, *spatial) shapes."""
    shared = conv.weight.numel()  # C_out * C_in / groups * prod(kernel)
    positions = math.prod(y_shape[1:])
    return WeightSharing(shared=shared, local=shared * positions, dense=math.prod(x_shape) * math.prod(y_shape))


def _not_run(model: nn.Module, ran: set[nn.Module]) -> tuple[str, ...]:
    """Names of the outermost modules that hold parameters and were not called (GoogLeNet: aux1, aux2)."""
    names: list[str] = []
    for name, module in model.named_modules():
        skipped = module not in ran and any(True for _ in module.parameters())
        if skipped and not any(name.startswith(f"{outer}.") for outer in names):
            names.append(name)
    return tuple(names)
