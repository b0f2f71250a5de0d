"""Grad-CAM: class activation maps from a convolutional layer's gradients (Selvaraju et al., 2017, arXiv:1610.02391).

For feature maps A^k (K, h, w) of a late convolutional layer, each channel's weight is the
spatially averaged gradient alpha_k = mean_ij dS_c/dA^k_ij, and the map is
ReLU(sum_k alpha_k A^k), upsampled bilinearly to the input's size. The ReLU keeps the
regions whose increase raises the class score. The default layer is the last one whose output
still has a spatial extent (4-D with h, w > 1), found by one probe forward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.explain.attribution.class_score import Target, check_batch, resolve_target
from cnnkit.explain.layers import network_of, tap
from cnnkit.modes import frozen

__all__ = ["default_layer", "gradcam"]


def default_layer(model: nn.Module, x: Tensor) -> str:
    """The last layer run whose output is (N, K, h, w) with h, w > 1: where Grad-CAM looks (Selvaraju et al., 2017).

    Among a container and the child that produced the very same tensor, the child is named
    (``features.4`` rather than ``features``). Reused modules are named ``name#k``.
    """
    network = network_of(model)
    names = {module: name for name, module in network.named_modules() if name}
    fired: list[tuple[str, str, Tensor]] = []                        # (name, base name, output)
    calls: dict[nn.Module, int] = {}

    def hook(module: nn.Module, _inputs: object, output: object) -> None:
        calls[module] = calls.get(module, 0) + 1
        if isinstance(output, Tensor):
            call = calls[module]
            fired.append((names[module] + (f"#{call}" if call > 1 else ""), names[module], output))

    handles = [module.register_forward_hook(hook) for module in names]
    try:
        with frozen(model), torch.no_grad():
            model(check_batch(x)[:1])
    finally:
        for handle in handles:
            handle.remove()
    spatial = [i for i, (_, _, out) in enumerate(fired) if out.dim() == 4 and out.shape[2] > 1 and out.shape[3] > 1]
    if not spatial:
        raise ConfigError("no layer of this network outputs spatial feature maps (N, K, h, w) with h, w > 1; "
                          "Grad-CAM needs a convolutional layer: pass layer=")
    last = spatial[-1]
    # A container's hook fires after its children's; walk back to the child that made its output.
    while last > 0:
        name, base, out = fired[last]
        prev_name, prev_base, prev_out = fired[last - 1]
        if prev_out is out and prev_base.startswith(base + "."):
            last -= 1
        else:
            break
    return fired[last][0]


def gradcam(model: nn.Module, x: Tensor, target: Target = None, *, layer: str | None = None) -> Tensor:
    """Grad-CAM map ReLU(sum_k alpha_k A^k) at ``layer``, upsampled to the input, (N, H, W) (Selvaraju et al., 2017).

    ``layer`` is a name as ``cnnkit summary`` prints it (``layer4.1.conv2``, ``relu#2``);
    None picks ``default_layer``. The map is not normalised: values are comparable across images.
    """
    x = check_batch(x)
    name = layer if layer is not None else default_layer(model, x)
    with frozen(model), tap(model, [name]) as recorded, torch.enable_grad():
        logits = model(x.detach().requires_grad_(True))                   # (N, K)
        if name not in recorded:
            raise ConfigError(f"layer '{name}' did not run in the forward pass; choose a layer 'cnnkit summary' lists")
        maps = recorded[name]                                                # (N, K, h, w)
        if maps.dim() != 4:
            raise ConfigError(f"layer '{name}' outputs shape {tuple(maps.shape)}, not (N, K, h, w) feature maps; "
                              "choose a convolutional layer")
        classes = resolve_target(target, logits.detach())
        scores = logits.gather(1, classes[:, None])[:, 0]                    # (N,)
        (grads,) = torch.autograd.grad(scores.sum(), maps)                   # (N, K, h, w)
    alpha = grads.mean((2, 3), keepdim=True)                                 # (N, K, 1, 1)
    cam = F.relu((alpha * maps.detach()).sum(1, keepdim=True))               # (N, 1, h, w)
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
