"""Generated FlyingChairs-style pairs: the second frame warped back by the true flow is the first
(where the pixel stays visible), occlusions are where that fails, and everything follows the seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from cnnkit.apps.flow.scenes import SceneConfig, make_pair
from cnnkit.errors import ConfigError


def _photo(image: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(image.astype(np.float32) / 255)
    t = t.permute(2, 0, 1) if t.dim() == 3 else t[None]
    # smoothed, so that bilinear resampling itself adds little error to the warping check
    return F.avg_pool2d(t[None], 5, stride=1, padding=2, count_include_pad=False)[0]


@pytest.fixture(scope="module")
def sources() -> list[torch.Tensor]:
    return [_photo(data.astronaut()), _photo(data.camera()), _photo(data.rocket())]


def _warp_back(image2: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """image2 sampled at x + flow(x), bilinearly: what image1 is where the flow is right."""
    _, h, w = image2.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    gx, gy = xs + flow[0], ys + flow[1]
    grid = torch.stack([(gx + 0.5) / w * 2 - 1, (gy + 0.5) / h * 2 - 1], -1)[None]
    return F.grid_sample(image2[None], grid, mode="bilinear", align_corners=False, padding_mode="border")[0]


def test_the_true_flow_warps_the_second_frame_onto_the_first(sources):
    errors, still = [], []
    for seed in range(6):
        pair = make_pair(seed, sources)
        visible = pair.valid & ~pair.occluded
        interior = F.max_pool2d((~visible).float()[None, None], 5, stride=1, padding=2)[0, 0] == 0
        warped = _warp_back(pair.image2, pair.flow)
        errors.append(float((warped - pair.image1).abs().mean(0)[interior].mean()))
        still.append(float((pair.image2 - pair.image1).abs().mean(0)[interior].mean()))
    assert max(errors) < 0.02, errors
    assert np.mean(errors) < 0.2 * np.mean(still), (errors, still)


def test_occluded_pixels_are_where_the_warp_fails(sources):
    found = 0
    for seed in range(10):
        pair = make_pair(seed, sources, config=SceneConfig(objects=(4, 6)))
        occluded = pair.occluded & pair.valid
        if occluded.sum() < 20:
            continue
        found += 1
        error = (_warp_back(pair.image2, pair.flow) - pair.image1).abs().mean(0)
        visible = pair.valid & ~pair.occluded
        assert error[occluded].mean() > 2 * error[visible].mean()
    assert found >= 3


def test_pixels_moving_out_of_the_frame_are_invalid(sources):
    config = SceneConfig(objects=(0, 0), background_shift=30.0, max_shift=40.0, background_rotation=0,
                         background_zoom=0)
    pair = make_pair(3, sources, config=config)
    u, v = pair.flow[0, 0, 0], pair.flow[1, 0, 0]
    assert torch.allclose(pair.flow[0], u.expand_as(pair.flow[0]), atol=1e-4)   # one translation everywhere
    h, w = config.size
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    inside = (xs + u >= -0.5) & (xs + u <= w - 0.5) & (ys + v >= -0.5) & (ys + v <= h - 0.5)
    assert torch.equal(pair.valid, inside) and (~pair.valid).any()


def test_pairs_follow_the_seed_and_move_from_sub_pixel_to_tens_of_pixels(sources):
    a, b, c = make_pair(7, sources), make_pair(7, sources), make_pair(8, sources)
    assert torch.equal(a.image1, b.image1) and torch.equal(a.flow, b.flow)
    assert not torch.equal(a.flow, c.flow)
    speeds = torch.cat([make_pair(s, sources).flow.norm(dim=0).flatten() for s in range(12)])
    assert float(speeds.min()) < 1.0 and float(speeds.max()) > 10.0
    assert 1.0 < float(speeds.mean()) < 12.0


def test_fashion_items_become_object_shapes(sources):
    items = torch.zeros(3, 28, 28, dtype=torch.uint8)
    items[:, 6:22, 10:18] = 255
    pair = make_pair(1, sources, items=items, config=SceneConfig(objects=(6, 6)))
    assert pair.image1.shape == (3, 128, 128) and torch.isfinite(pair.flow).all()


def test_bad_scene_settings():
    with pytest.raises(ConfigError, match="scene size"):
        SceneConfig(size=(8, 8))
    with pytest.raises(ConfigError, match="objects"):
        SceneConfig(objects=(5, 2))
    with pytest.raises(ConfigError, match="at least one photograph"):
        make_pair(0, [])
