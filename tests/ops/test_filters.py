"""The classic kernels against SciPy's filters, and `cnnkit ops demo` as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from cnnkit.errors import ConfigError
from cnnkit.ops import conv2d
from cnnkit.ops.filters import FILTERS, box, gaussian, kernel_bank, laplacian, sobel


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_true_convolution_with_each_filter_equals_scipy_convolve(name: str) -> None:
    image = np.random.default_rng(0).random((20, 23))
    kernel = FILTERS[name]().double()
    ours = conv2d(torch.from_numpy(image)[None, None], kernel[None, None], padding="same", flip=True)[0, 0]
    theirs = ndimage.convolve(image, kernel.numpy(), mode="constant", cval=0.0)
    assert np.allclose(ours.numpy(), theirs, atol=1e-12)  # odd kernels, zero borders in both


def test_sobel_measures_the_slope_of_a_ramp() -> None:
    ramp = torch.arange(10.0).repeat(10, 1)  # brightness rises by 1 per column
    gx = conv2d(ramp[None, None], sobel("x")[None, None], flip=False)[0, 0]
    gy = conv2d(ramp[None, None], sobel("y")[None, None], flip=False)[0, 0]
    assert torch.all(gx == 8.0) and torch.all(gy == 0.0)  # (1 + 2 + 1) x (1 - (-1))


def test_laplacian_of_a_quadratic_is_constant() -> None:
    i, j = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    result = conv2d((i**2 + 3 * j**2)[None, None], laplacian()[None, None])[0, 0]
    assert torch.all(result == 2 + 6)


def test_low_pass_kernels_sum_to_one_and_gaussian_is_separable() -> None:
    assert torch.isclose(box(4).sum(), torch.tensor(1.0)) and torch.isclose(gaussian(2.0).sum(), torch.tensor(1.0))
    g = gaussian(1.5, dtype=torch.float64)
    assert g.shape == (11, 11) and torch.linalg.matrix_rank(g) == 1
    assert torch.allclose(g, torch.outer(g.sum(1), g.sum(0)))


def test_bank_centres_smaller_kernels() -> None:
    bank = kernel_bank(["laplacian", "box"])
    assert bank.shape == (2, 1, 5, 5)
    assert torch.equal(bank[0, 0, 1:4, 1:4], laplacian()) and bank[0, 0].abs().sum() == laplacian().abs().sum()


@pytest.mark.parametrize("call", [lambda: sobel("z"), lambda: box(0), lambda: gaussian(0.0), lambda: kernel_bank(["x"])])
def test_bad_filter_arguments_raise_config_error(call) -> None:
    with pytest.raises(ConfigError):
        call()


def test_ops_demo_writes_a_png_of_the_default_photograph(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    result = subprocess.run([sys.executable, "-m", "cnnkit", "ops", "demo", "--out", str(out), "--size", "96"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out.resolve())
    with Image.open(out) as png:
        assert png.format == "PNG" and png.width > 600


def test_ops_demo_on_a_user_image_and_its_errors(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (50, 80, 3), dtype=np.uint8)).save(photo)
    ok = subprocess.run([sys.executable, "-m", "cnnkit", "ops", "demo", str(photo), "--out", str(tmp_path / "a.png"),
                         "--size", "32"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "bad.png").write_bytes(b"not an image")
    for args in (["ops", "demo", str(tmp_path / "bad.png"), "--out", str(tmp_path / "b.png")],
                 ["ops", "demo", "--size", "3", "--out", str(tmp_path / "c.png")],
                 ["ops", "demo", "--out", str(tmp_path / "missing" / "d.png")]):
        bad = subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert bad.stderr.startswith("cnnkit: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "bad.png", "photo.jpg"]
