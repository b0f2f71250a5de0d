"""The shipped super-resolution weights: present for x2, x3 and x4, small, with the command and commit
that made them, trained on scikit-image's photographs only, and better than bicubic on a
photograph they never saw (PSNR recomputed here with scikit-image)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio

from cnnkit.apps.superres.models import WEIGHTS, open_sr_model, shipped_models
from cnnkit.apps.superres.photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS
from cnnkit.cli.main import main


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_each_scale_ships_small_weights_with_the_command_that_made_them(scale):
    folder = shipped_models()[f"superres-x{scale}"]
    assert folder.parent == WEIGHTS
    assert (folder / "model.safetensors").stat().st_size < 5 * 2**20
    record = json.loads((folder / "reproduce.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"])
    assert record["command"].startswith("cnnkit sr train ") and f"--scale {scale}" in record["command"]
    assert record["training_photographs"] == list(TRAIN_PHOTOS)
    assert not set(record["training_photographs"]) & set(HELD_OUT_PHOTOS)
    model = open_sr_model(None, scale=scale)
    assert model.scale == scale and model.info.task == "superres" and model.degradation == "bicubic"
    assert model.info.dataset == "skimage"


def test_the_x3_default_beats_bicubic_on_a_held_out_photograph(tmp_path, capfd):
    hr = data.coffee()[:201, :300]                           # 201 x 300: a multiple of 3
    small = np.asarray(Image.fromarray(hr).resize((100, 67), Image.Resampling.BICUBIC))
    Image.fromarray(small).save(tmp_path / "small.png")
    with _no_exit():
        main(["sr", str(tmp_path / "small.png"), "-o", str(tmp_path / "big.png")])
    big = np.asarray(Image.open(tmp_path / "big.png"))
    assert big.shape == (201, 300, 3)
    bic = np.asarray(Image.fromarray(small).resize((300, 201), Image.Resampling.BICUBIC))
    y = lambda rgb: rgb2ycbcr(rgb)[3:-3, 3:-3, 0]            # noqa: E731  (Y in [16, 235], the border shaved)
    network = peak_signal_noise_ratio(y(hr), y(big), data_range=255)
    baseline = peak_signal_noise_ratio(y(hr), y(bic), data_range=255)
    assert network > baseline + 0.5, (network, baseline)


class _no_exit:
    """main() returns or exits with code 0; any other exit fails the test."""

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if kind is SystemExit and not err.code:
            return True
        return False


def test_sr_without_model_uses_the_shipped_weights_of_the_scale(tmp_path, capfd):
    Image.fromarray(data.camera()[:40, :50]).save(tmp_path / "g.png")
    for scale in (2, 4):
        with _no_exit():
            main(["sr", str(tmp_path / "g.png"), "--scale", str(scale), "-o", str(tmp_path / f"x{scale}"), "-q"])
        out = Image.open(tmp_path / f"x{scale}" / f"g_x{scale}.png")
        assert out.mode == "L" and out.size == (50 * scale, 40 * scale)


def test_the_shipped_architecture_name_means_the_shipped_model(capfd):
    assert open_sr_model("espcn_residual", scale=4).source == "superres-x4"
    assert open_sr_model("espcn_residual").source == "superres-x3"
    assert open_sr_model("superres-x2").scale == 2
