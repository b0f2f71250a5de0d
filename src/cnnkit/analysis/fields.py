"""Receptive fields computed analytically, layer by layer (Araujo et al., 2019, "Computing
receptive fields of convolutional neural networks", Distill, doi:10.23915/distill.00021).

Each tensor carries, per spatial axis, three numbers about one of its positions:

* ``r``: the receptive field size, in input pixels;
* ``jump``: how many input pixels one step along the tensor moves (the effective stride);
* ``start``: the input coordinate of the centre of position 0's field (can be negative or x.5).

A convolution or pooling with kernel k, stride s, padding p and dilation d maps them as

    r_out = r_in + (k - 1) * d * j_in,   j_out = j_in * s,   start_out = start_in + ((k - 1) * d / 2 - p) * j_in

and pointwise operations (BatchNorm, ReLU, dropout) keep them. Global pooling and flattening
see the whole map: r grows by (size - 1) * j, and the row is marked ``is_global``.

The fields ride along the forward pass: a ``TorchFunctionMode`` sees every torch call, so the
additions and concatenations that modules do in ``forward`` (the residual ``y + shortcut``) are
seen too. Where several paths meet, the field is the largest over the paths (``r``) and the
smallest (``r_min``), as Araujo et al. report both; for a ResNet block the shortcut is the
short path. Interpolation and other shape-changing calls the tracker does not know keep the
field of their input, so their rows are only an estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from cnnkit.analysis.shapes import input_shape
from cnnkit.errors import ConfigError

__all__ = ["Field", "FieldRow", "ReceptiveFields", "receptive_field"]


@dataclass(frozen=True)
class Field:
    """Per spatial axis (height, width, ...): largest and smallest field over paths, jump, start."""

    r: tuple[int, ...]
    r_min: tuple[int, ...]
    jump: tuple[float, ...]
    start: tuple[float, ...]
    is_global: bool = False

    def conv(self, kernel: Sequence[int], stride: Sequence[float], padding: Sequence[int],
             dilation: Sequence[int]) -> Field:
        grow = [(k - 1) * d for k, d in zip(kernel, dilation)]
        return Field(
            r=tuple(int(r + g * j) for r, g, j in zip(self.r, grow, self.jump)),
            r_min=tuple(int(r + g * j) for r, g, j in zip(self.r_min, grow, self.jump)),
            jump=tuple(j * s for j, s in zip(self.jump, stride)),
            start=tuple(st + (g / 2 - p) * j for st, g, p, j in zip(self.start, grow, padding, self.jump)),
            is_global=self.is_global,
        )

    def whole(self, spatial: Sequence[int]) -> Field:
        """The field of an output that sees every position of a map of this size."""
        field = self.conv(spatial, [1] * len(spatial), [0] * len(spatial), [1] * len(spatial))
        return Field(field.r, field.r_min, field.jump, field.start, is_global=True)


def _merge(fields: list[Field]) -> Field:
    if len(fields) == 1:
        return fields[0]
    widest = max(fields, key=lambda f: (sum(f.r), -fields.index(f)))
    return Field(
        r=tuple(max(axis) for axis in zip(*(f.r for f in fields))),
        r_min=tuple(min(axis) for axis in zip(*(f.r_min for f in fields))),
        jump=widest.jump,
        start=widest.start,
        is_global=any(f.is_global for f in fields),
    )


@dataclass(frozen=True)
class FieldRow:
    """One call of a leaf module: its name (``#2`` on a second call), type, output shape and field."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    field: Field

    @property
    def r(self) -> int:
        """The largest receptive field side, in pixels."""
        return max(self.field.r)


@dataclass(frozen=True)
class ReceptiveFields:
    """Rows in execution order, for an input of ``input_shape`` (C, H, W)."""

    input_shape: tuple[int, int, int]
    rows: tuple[FieldRow, ...]

    def row(self, name: str) -> FieldRow:
        """The row of a leaf call, or of a container (``layer1``): its last leaf call's row."""
        for row in reversed(self.rows):
            if row.name == name or row.name.split("#")[0].startswith(name + "."):
                return row
        raise ConfigError(f"no layer {name!r} in the receptive-field table")

    def covering(self, size: int) -> FieldRow | None:
        """The first local (not global) row whose field covers size x size pixels; None if none does."""
        for row in self.rows:
            if not row.field.is_global and min(row.field.r) >= size:
                return row
        return None


class _Tracker(TorchFunctionMode):
    """Attach a Field to every tensor that a torch call makes from tracked tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[int, Field] = {}
        self.keep: list[Tensor] = []  # ids stay unique only while their tensors live

    def put(self, tensor: Tensor, field: Field) -> None:
        self.fields[id(tensor)] = field
        self.keep.append(tensor)

    def get(self, tensor: Any) -> Field | None:
        return self.fields.get(id(tensor)) if isinstance(tensor, Tensor) else None

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in _tensors(args) + _tensors(list(kwargs.values())) if id(t) in self.fields]
        if not inputs:
            return out
        first = inputs[0]
        field = _merge([self.fields[id(t)] for t in inputs])
        field = _through(func, first, field, args, kwargs, out)
        for tensor in _tensors([out]):
            self.put(tensor, field)
        return out


def _tensors(values: Sequence[Any]) -> list[Tensor]:
    found: list[Tensor] = []
    for value in values:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(_tensors(value))
    return found


def _axes(value: Any, n: int) -> list[int]:
    if value is None:
        return [0] * n
    if isinstance(value, int):
        return [value] * n
    return [int(v) for v in value]


def _through(func: Any, x: Tensor, field: Field, args: tuple, kwargs: dict, out: Any) -> Field:
    """The field after one torch call on x (the first tracked argument)."""
    name = getattr(func, "__name__", "")
    n = len(field.r)
    spatial = list(x.shape[-n:]) if n else []
    if field.is_global or not isinstance(out, (Tensor, tuple, list)):
        return field
    params = dict(zip(_SIGNATURE.get(_kind(name), ()), args[1:]))
    params.update(kwargs)
    kind = _kind(name)
    if kind == "conv":
        weight = params["weight"]
        kernel = list(weight.shape[2:])
        return field.conv(kernel, _axes(params.get("stride", 1), n), _padding(params.get("padding", 0), kernel, n),
                          _axes(params.get("dilation", 1), n))
    if kind in ("pool", "avg_pool"):
        kernel = _axes(params["kernel_size"], n)
        stride = _axes(params.get("stride") or kernel, n)
        return field.conv(kernel, stride, _axes(params.get("padding", 0), n), _axes(params.get("dilation", 1), n))
    if kind == "adaptive":
        first = out[0] if isinstance(out, (tuple, list)) else out
        out_size = list(first.shape[-n:])
        if all(o == 1 for o in out_size):
            return field.whole(spatial)
        # Adaptive windows of in/out pixels: exact when in is a multiple of out, else an estimate.
        kernel = [math.ceil(i / o) + (1 if i % o else 0) for i, o in zip(spatial, out_size)]
        return field.conv(kernel, [i / o for i, o in zip(spatial, out_size)], [0] * n, [1] * n)
    first = out[0] if isinstance(out, (tuple, list)) else out
    if isinstance(first, Tensor) and first.dim() < x.dim() and n and name in _FLATTENING:
        return field.whole(spatial)  # flatten / view / reshape / mean over the map: every position at once
    return field


_SIGNATURE = {
    "conv": ("weight", "bias", "stride", "padding", "dilation", "groups"),
    "pool": ("kernel_size", "stride", "padding", "dilation"),
    "avg_pool": ("kernel_size", "stride", "padding"),  # then ceil_mode: average pooling has no dilation
}
_FLATTENING = {"flatten", "view", "reshape", "mean", "sum", "amax", "max", "amin", "min", "squeeze", "logsumexp"}


def _kind(name: str) -> str:
    if name in ("conv1d", "conv2d", "conv3d"):
        return "conv"
    if "adaptive" in name and "pool" in name:
        return "adaptive"
    if "avg_pool" in name:
        return "avg_pool"
    if "max_pool" in name and "unpool" not in name:
        return "pool"
    return ""


def _padding(value: Any, kernel: list[int], n: int) -> list[int]:
    if value == "valid":
        return [0] * n
    if value == "same":
        return [(k - 1) // 2 for k in kernel]
    return _axes(value, n)


def trace_fields(model: nn.Module, x: Tensor) -> tuple[FieldRow, ...]:
    """Run x through the model once and return the field of every leaf module call."""
    tracker = _Tracker()
    n = x.dim() - 2
    tracker.put(x, Field(r=(1,) * n, r_min=(1,) * n, jump=(1.0,) * n, start=(0.0,) * n))
    rows: list[FieldRow] = []
    calls: dict[str, int] = {}
    names = {module: name for name, module in model.named_modules()}

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        first = output[0] if isinstance(output, (tuple, list)) else output
        field = tracker.get(first)
        if field is None:
            return
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        label = name if calls[name] == 1 else f"{name}#{calls[name]}"
        rows.append(FieldRow(label, type(module).__name__, tuple(first.shape), field))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), tracker:
            model(x)
    except RuntimeError as err:
        message = str(err).strip().splitlines()[0]
        raise ConfigError(f"the model cannot run on a {'x'.join(map(str, x.shape[1:]))} input: {message}") from None
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return tuple(rows)


def receptive_field(
    model: nn.Module, input_size: int | Sequence[int], *, in_chans: int | None = None
) -> ReceptiveFields:
    """Receptive field size, jump and start of every leaf layer for an input of ``input_size``.

    ``input_size`` is H, (H, W) or (C, H, W). The model runs once on zeros on its own device
    (build it on ``torch.device("meta")`` to run it for free); its mode is restored.
    """
    shape = input_shape(model, input_size, in_chans)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return ReceptiveFields(shape, trace_fields(model, torch.zeros((1, *shape), device=device)))
