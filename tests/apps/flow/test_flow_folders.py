"""FlyingChairs and MPI-Sintel folder layouts, on files the test writes the way the datasets ship them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.apps.flow import write_flo
from cnnkit.apps.flow.folders import flying_chairs, load_sample, sintel
from cnnkit.errors import CorruptDataError, MissingDataError


def _frames(rng, h=12, w=16):
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2)]


def test_flying_chairs_layout_and_split(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "FlyingChairs_release" / "data"
    data.mkdir(parents=True)
    flows = []
    for i in range(1, 4):
        a, b = _frames(rng)
        Image.fromarray(a).save(data / f"{i:05d}_img1.ppm")
        Image.fromarray(b).save(data / f"{i:05d}_img2.ppm")
        flow = torch.from_numpy(rng.normal(0, 3, (2, 12, 16)).astype(np.float32))
        write_flo(data / f"{i:05d}_flow.flo", flow)
        flows.append(flow)
    (tmp_path / "FlyingChairs_release" / "FlyingChairs_train_val.txt").write_text("1\n2\n1\n")
    root = tmp_path / "FlyingChairs_release"
    train, val = flying_chairs(root, "train"), flying_chairs(root, "val")
    assert [s.flow.name for s in train] == ["00001_flow.flo", "00003_flow.flo"]
    assert [s.flow.name for s in val] == ["00002_flow.flo"]
    pair = load_sample(val[0])
    torch.testing.assert_close(pair.flow, flows[1])
    assert pair.valid.all() and not pair.occluded.any() and pair.image1.shape == (3, 12, 16)
    (root / "FlyingChairs_train_val.txt").write_text("1\n2\n")
    with pytest.raises(CorruptDataError, match="2 labels for 3 pairs"):
        flying_chairs(root, "train")
    with pytest.raises(MissingDataError, match="holds no FlyingChairs pairs"):
        flying_chairs(tmp_path / "nothing")


def test_sintel_layout_with_occlusions_and_invalid_pixels(tmp_path):
    rng = np.random.default_rng(1)
    base = tmp_path / "MPI-Sintel" / "training"
    for scene in ("alley_1", "bamboo_2"):
        for kind in ("clean", "flow", "occlusions", "invalid"):
            (base / kind / scene).mkdir(parents=True)
        for i in range(1, 4):
            Image.fromarray(_frames(rng)[0]).save(base / "clean" / scene / f"frame_{i:04d}.png")
        for i in range(1, 3):
            flow = torch.from_numpy(rng.normal(0, 2, (2, 12, 16)).astype(np.float32))
            flow[:, 0, 0] = 2e9                                    # unknown flow
            write_flo(base / "flow" / scene / f"frame_{i:04d}.flo", flow)
            occ = np.zeros((12, 16), np.uint8)
            occ[5:8, 5:8] = 255
            Image.fromarray(occ).save(base / "occlusions" / scene / f"frame_{i:04d}.png")
            bad = np.zeros((12, 16), np.uint8)
            bad[-1] = 255
            Image.fromarray(bad).save(base / "invalid" / scene / f"frame_{i:04d}.png")
    samples = sintel(tmp_path / "MPI-Sintel", "clean")
    assert len(samples) == 4 and samples[0].image2.name == "frame_0002.png"
    pair = load_sample(samples[0])
    assert int(pair.occluded.sum()) == 9
    assert not pair.valid[0, 0] and not pair.valid[-1].any() and int(pair.valid.sum()) == 12 * 16 - 1 - 16
    with pytest.raises(MissingDataError, match="final"):
        sintel(tmp_path / "MPI-Sintel", "final")


def test_the_real_motorcycle_pair_has_flow_that_tv_l1_finds():
    from cnnkit.apps.flow.estimate import compare_methods
    from cnnkit.apps.flow.folders import motorcycle_pair
    from cnnkit.apps.flow.networks import warp

    pair = motorcycle_pair(4)
    assert pair.image1.shape == (3, 125, 185) and pair.valid.float().mean() > 0.6
    assert float(pair.flow[0][pair.valid].min()) < -10 and float(pair.flow[1].abs().max()) == 0
    # the right view warped back by the true flow is close to the left view where it is valid
    back = warp(pair.image2[None], pair.flow[None])[0]
    error = (back - pair.image1).abs().mean(0)[pair.valid].mean()
    still = (pair.image2 - pair.image1).abs().mean(0)[pair.valid].mean()
    assert error < 0.5 * still
    result = compare_methods(None, [pair], methods=("tvl1",))
    assert result.epe["tvl1"]["all"] < 0.5 * result.epe["zero"]["all"]
