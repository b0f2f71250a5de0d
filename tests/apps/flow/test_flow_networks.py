"""FlowNetS, FlowNetC and PWCLite: registered with their task, the published sizes at width 1,
predictions at every scale in training and one full-size flow in pixels in evaluation, warping
against an exact shift, and the multi-scale EPE loss by hand."""

from __future__ import annotations

import pytest
import torch

from cnnkit.apps.flow.networks import FLOW_SCALE, LOSS_WEIGHTS, multiscale_epe, warp
from cnnkit.errors import ConfigError
from cnnkit.models import create_model, get_model_entry, list_models


def test_the_flow_models_register_with_their_task():
    assert list_models(task="flow") == ["flownetc", "flownets", "pwc_lite"]
    assert all(get_model_entry(n).task == "flow" for n in list_models(task="flow"))


@pytest.mark.parametrize(("name", "published"), [("flownets", 38.7e6), ("flownetc", 39.2e6)])
def test_width_one_has_the_published_size(name, published):
    with torch.device("meta"):
        model = create_model(name, width=1.0)
    assert abs(sum(p.numel() for p in model.parameters()) - published) / published < 0.01


@pytest.mark.parametrize("name", ["flownets", "flownetc", "pwc_lite"])
def test_training_gives_every_scale_and_evaluation_the_full_flow(name):
    torch.manual_seed(0)
    model = create_model(name, width=0.125) if name != "pwc_lite" else create_model(name, width=0.25)
    x = torch.rand(2, 6, 64, 64)  # two RGB images stacked
    flows = model(x)
    assert [f.shape[-1] for f in flows] == ([16, 8, 4, 2, 1] if name != "pwc_lite" else [64, 16, 8, 4, 2])
    loss = multiscale_epe(flows, torch.randn(2, 2, 64, 64), units=model.units(len(flows)))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 2, 64, 64)
    with pytest.raises(ConfigError, match="multiples of"):
        model(torch.rand(1, 6, 48, 64))


def test_convex_upsampling_is_a_convex_combination_of_the_coarse_neighbours():
    torch.manual_seed(0)
    model = create_model("pwc_lite", width=0.25)
    features = torch.randn(2, model.pyramid[1][0][0].out_channels, 6, 5)
    uniform = torch.tensor([1.5, -2.0]).view(1, 2, 1, 1).expand(2, 2, 6, 5)
    torch.testing.assert_close(model._convex_upsample(uniform, features), uniform.new_tensor([6.0, -8.0]).view(1, 2, 1, 1)
                               .expand(2, 2, 24, 20))                    # a uniform motion, in pixels x 4
    coarse = torch.randn(2, 2, 6, 5)
    fine = model._convex_upsample(coarse, features)
    padded = torch.nn.functional.pad(coarse * 4, (1, 1, 1, 1), mode="replicate")
    for y, x in [(0, 0), (13, 7), (23, 19)]:                 # inside the hull of the 3x3 coarse neighbours
        window = padded[:, :, y // 4:y // 4 + 3, x // 4:x // 4 + 3].flatten(2)
        assert (fine[:, :, y, x] >= window.min(2).values - 1e-5).all()
        assert (fine[:, :, y, x] <= window.max(2).values + 1e-5).all()


def test_warp_by_a_whole_pixel_shift_is_a_shift():
    image = torch.rand(1, 3, 10, 12)
    flow = torch.zeros(1, 2, 10, 12)
    flow[:, 0] = 2.0                                      # sample two pixels to the right
    flow[:, 1] = -1.0                                     # and one up
    out = warp(image, flow)
    torch.testing.assert_close(out[..., 1:, :-2], image[..., :-1, 2:])
    assert (out[..., 0, :] == 0).all()                   # outside the image: zero


def test_multiscale_epe_by_hand():
    truth = torch.zeros(1, 2, 8, 8)
    truth[:, 0] = 3.0
    truth[:, 1] = 4.0                                     # 5 pixels everywhere
    predictions = [torch.zeros(1, 2, 2 ** (3 - k), 2 ** (3 - k)) for k in range(4)]
    expected = sum(w * 5 / FLOW_SCALE for w in LOSS_WEIGHTS[:4])
    assert float(multiscale_epe(predictions, truth)) == pytest.approx(expected, rel=1e-6)
    units = [2.0, 4.0, 8.0, 16.0]                         # a pyramid: each level's own pixels
    expected = sum(w * 5 / FLOW_SCALE / u for w, u in zip(LOSS_WEIGHTS, units))
    assert float(multiscale_epe(predictions, truth, units=units)) == pytest.approx(expected, rel=1e-6)
    valid = torch.zeros(1, 8, 8, dtype=torch.bool)        # nothing valid: nothing counted
    assert float(multiscale_epe(predictions, truth, valid)) == 0.0
