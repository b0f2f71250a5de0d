"""One output unit of a layer, computed again from the layer's own input with the lecture's sums
(CNN Explainer's interactive formula view): the products of a kernel slice and a patch, their
sum over the input channels, the shared bias and the non-linearity; a pooling window and its
arg-max; the largest terms of a fully-connected sum.

Each function takes the module, its recorded input (1, C, H, W) or (1, L) and the unit's index,
and returns plain JSON values; ``value`` is always the module's own output at that unit, so the
page (and the tests) can check the hand-made sum against the model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.analysis import Field
from cnnkit.ops.conv import border_padding

__all__ = ["receptive_box", "unit_computation"]

_TERMS = 16  # the largest products a fully-connected unit lists


def receptive_box(field: Field | None, y: int, x: int, input_size: int) -> dict[str, int]:
    """The input pixels unit (y, x) sees, inclusive, clipped to the image (the whole image for a vector)."""
    last = input_size - 1
    if field is None or len(field.r) != 2:
        return {"y0": 0, "x0": 0, "y1": last, "x1": last}
    box = []
    for i, r, jump, start in zip((y, x), field.r, field.jump, field.start):
        centre, half = start + i * jump, (r - 1) / 2
        box += [max(0, math.floor(centre - half)), min(last, math.ceil(centre + half))]
    return {"y0": box[0], "y1": box[1], "x0": box[2], "x1": box[3]}


def unit_computation(module: nn.Module, inputs: Tensor, output: Tensor, channel: int, y: int, x: int,
                     activation: nn.Module | None) -> dict[str, Any]:
    """The unit's computation by the module's kind; ``output`` is the module's (1, ...) output."""
    value = float(output[0, channel, y, x] if output.dim() == 4 else output[0, channel])
    if isinstance(module, nn.Conv2d):
        answer = _conv(module, inputs, channel, y, x)
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        answer = _pool(module, inputs, channel, y, x)
    elif isinstance(module, nn.Linear) and inputs.dim() == 2:
        answer = _linear(module, inputs, channel)
    else:
        answer = _elementwise(module, inputs, output, channel, y, x)
    answer["value"] = value
    if "sum" in answer:
        answer["activation"] = _activate(activation, answer["sum"])
    return answer


def _activate(activation: nn.Module | None, total: float) -> dict[str, Any] | None:
    """The following non-linearity applied to the pre-activation sum."""
    if activation is None:
        return None
    with torch.no_grad():
        result = activation(torch.tensor([[total]], dtype=torch.float32))
    return {"name": type(activation).__name__, "value": float(result.reshape(-1)[0])}


def _conv_padding(module: nn.Conv2d, size: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """(before, after) zero rows and columns the layer adds: cnnkit's border modes or torch's padding."""
    border = getattr(module, "border", None)
    if border is not None:
        return border_padding(size, module.kernel_size, module.stride, border, module.dilation)
    if module.padding == "valid":
        return ((0, 0), (0, 0))
    if module.padding == "same":  # torch's rule: the extra pixel after
        totals = [d * (k - 1) for k, d in zip(module.kernel_size, module.dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in module.padding)  # type: ignore[union-attr]


def _window(inputs: Tensor, pads: tuple[tuple[int, int], ...], mode: str, value: float = 0.0) -> Tensor:
    """The input with the layer's border added (zeros, or reflect/replicate/circular)."""
    flat = [p for before_after in reversed(pads) for p in before_after]
    if not any(flat):
        return inputs
    if mode in ("zeros", "constant"):
        return F.pad(inputs, flat, value=value)
    return F.pad(inputs, flat, mode=mode)


def _patch(padded: Tensor, channels: slice | int, y: int, x: int, kernel: tuple[int, int],
           stride: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """The taps the kernel reads for output (y, x), from the padded input."""
    top, left = y * stride[0], x * stride[1]
    rows = slice(top, top + dilation[0] * (kernel[0] - 1) + 1, dilation[0])
    cols = slice(left, left + dilation[1] * (kernel[1] - 1) + 1, dilation[1])
    return padded[0, channels, rows, cols]


def _conv(module: nn.Conv2d, inputs: Tensor, channel: int, y: int, x: int) -> dict[str, Any]:
    """Lecture: z = sum over input channels of (kernel slice * patch), plus the shared bias."""
    pads = _conv_padding(module, tuple(inputs.shape[2:]))
    padded = _window(inputs.float(), pads, module.padding_mode)
    per_group = module.in_channels // module.groups
    group = channel // (module.out_channels // module.groups)
    first = group * per_group
    stride, dilation = tuple(module.stride), tuple(module.dilation)
    patch = _patch(padded, slice(first, first + per_group), y, x, module.kernel_size, stride, dilation)
    kernel = module.weight[channel].detach().float()
    if getattr(module, "flip", False):
        kernel = kernel.flip(-2, -1)
    products = patch * kernel
    bias = float(module.bias[channel]) if module.bias is not None else 0.0
    channel_sums = products.sum((1, 2))
    return {
        "kind": "conv", "in_channels": list(range(first, first + per_group)),
        "window": {"y": y * stride[0] - pads[0][0], "x": x * stride[1] - pads[1][0],
                   "stride": list(stride), "dilation": list(dilation)},
        "patch": patch.tolist(), "kernel": kernel.tolist(), "products": products.tolist(),
        "channel_sums": channel_sums.tolist(), "bias": bias,
        "sum": float(channel_sums.double().sum()) + bias,
    }


def _adaptive_span(i: int, size: int, out: int) -> tuple[int, int]:
    """The input rows of adaptive pooling's output i: floor(i*size/out) to ceil((i+1)*size/out)."""
    return (i * size) // out, -(-(i + 1) * size // out)


def _pool(module: nn.Module, inputs: Tensor, channel: int, y: int, x: int) -> dict[str, Any]:
    """Lecture: pooling takes the maximum (or the mean) of one channel's window."""
    is_max = isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d))
    plane = inputs[:, channel:channel + 1].float()
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        out = module.output_size if isinstance(module.output_size, tuple) else (module.output_size,) * 2
        out = tuple(o if o is not None else s for o, s in zip(out, plane.shape[2:]))
        (top, bottom), (left, right) = (_adaptive_span(y, plane.shape[2], out[0]),
                                        _adaptive_span(x, plane.shape[3], out[1]))
        patch = plane[0, 0, top:bottom, left:right]
        window = {"y": top, "x": left, "stride": [1, 1], "dilation": [1, 1]}
    else:
        kernel, stride, padding = (_pair(module.kernel_size), _pair(module.stride or module.kernel_size),
                                   _pair(module.padding))
        dilation = _pair(getattr(module, "dilation", 1))
        pads = tuple((p, p) for p in padding)
        padded = _window(plane, pads, "constant", value=-math.inf if is_max else 0.0)
        patch = _patch(padded, 0, y, x, kernel, stride, dilation)
        window = {"y": y * stride[0] - padding[0], "x": x * stride[1] - padding[1],
                  "stride": list(stride), "dilation": list(dilation)}
    argmax = None
    if is_max:
        flat = int(patch.reshape(-1).argmax())
        argmax = [flat // patch.shape[1], flat % patch.shape[1]]
    shown = patch.masked_fill(torch.isinf(patch), 0.0)  # padding of a max pool reads -inf: JSON has no such number
    return {"kind": "pool", "window": window, "patch": shown.tolist(), "argmax": argmax,
            "mode": "max" if is_max else "average"}


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _linear(module: nn.Linear, inputs: Tensor, channel: int) -> dict[str, Any]:
    """Lecture: a fully-connected unit is the dot product of its weights with every input, plus a bias."""
    values = inputs[0].float()
    weights = module.weight[channel].detach().float()
    products = values * weights
    top = products.abs().topk(min(_TERMS, products.numel())).indices.tolist()
    bias = float(module.bias[channel]) if module.bias is not None else 0.0
    return {
        "kind": "linear", "count": int(products.numel()), "bias": bias,
        "terms": [{"index": i, "input": float(values[i]), "weight": float(weights[i]), "product": float(products[i])}
                  for i in top],
        "sum": float(products.double().sum()) + bias,
    }


def _elementwise(module: nn.Module, inputs: Tensor, output: Tensor, channel: int, y: int, x: int) -> dict[str, Any]:
    """A layer that maps each value on its own (ReLU, BatchNorm, ...) or one the explorer shows as a value."""
    answer: dict[str, Any] = {"kind": "elementwise", "input": None}
    if inputs.shape == output.shape:
        answer["input"] = float(inputs[0, channel, y, x] if inputs.dim() == 4 else inputs[0, channel])
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
        answer.update(mean=float(module.running_mean[channel]), var=float(module.running_var[channel]),
                      weight=float(module.weight[channel]) if module.weight is not None else 1.0,
                      bias=float(module.bias[channel]) if module.bias is not None else 0.0, eps=module.eps)
    return answer
