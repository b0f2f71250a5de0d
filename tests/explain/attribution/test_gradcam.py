"""Grad-CAM (Selvaraju et al., 2017) against its formula written out with a plain forward hook on
a copy of the network whose ReLUs are not in place."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.explain.attribution.cam import default_layer, gradcam


def _formula(model, x, target, module, call=1):
    """ReLU(sum_k mean_ij(dS/dA_k) A_k), A taken by a hook at the ``call``-th call of ``module``."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    kept, seen = [], [0]
    module = dict(model.named_modules())[module]

    def hook(_m, _inputs, output):
        seen[0] += 1
        if seen[0] == call:
            kept.append(output)

    handle = module.register_forward_hook(hook)
    logits = model(x.clone().requires_grad_(True))
    handle.remove()
    maps = kept[0]
    grads = torch.autograd.grad(logits[torch.arange(len(x)), target].sum(), maps)[0]
    cam = F.relu((grads.mean((2, 3), keepdim=True) * maps).sum(1, keepdim=True))
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0].detach()


@pytest.mark.parametrize("layer, module, call", [
    ("relu#2", "1.relu", 2), ("conv2#2", "1.conv2", 2), ("conv1", "1.conv1", 1), ("relu#3", "1.relu", 3),
])
def test_gradcam_on_reused_in_place_modules_equals_the_formula(reuse_model, reuse_images, layer, module, call):
    target = torch.tensor([0, 1, 2, 0, 1])
    expected = _formula(reuse_model, reuse_images, target, module, call)
    ours = gradcam(reuse_model, reuse_images, target, layer=layer)
    assert ours.shape == (5, 6, 6)
    assert torch.allclose(ours, expected, atol=1e-6, rtol=0)
    assert expected.abs().max() > 0


def test_default_layer_is_the_last_spatial_one(reuse_model, reuse_images):
    assert default_layer(reuse_model, reuse_images) == "pool"  # 3x3: still spatial
    from cnnkit.runs import open_model

    lenet = open_model("lenet5").model
    assert default_layer(lenet, torch.rand(1, 1, 28, 28)) == "features.5"


def test_resnet18_in_place_relus():
    from cnnkit.runs import open_model

    model = open_model("resnet18", input_size=16).model
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    expected = _formula(model, x, torch.tensor([3, 4]), "1.layer2.1.relu", 2)
    ours = gradcam(model, x, torch.tensor([3, 4]), layer="layer2.1.relu#2")
    assert torch.allclose(ours, expected, atol=1e-5, rtol=1e-4)
    model.train()
    gradcam(model, x, 3)
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())


def test_bad_layer_and_target(reuse_model, reuse_images):
    with pytest.raises(ConfigError, match="valid layers"):
        gradcam(reuse_model, reuse_images, 0, layer="conv9")
    with pytest.raises(ConfigError, match="not \\(N, K, h, w\\)"):
        gradcam(reuse_model, reuse_images, 0, layer="fc")
    with pytest.raises(ConfigError, match="out of range"):
        gradcam(reuse_model, reuse_images, 3)
