"""The lecture's "convolution" figures: each draws a real PNG, and the checks its caption states passed.

Each figure is drawn once per session (a module fixture) and its numbers are compared with what the
lecture's formulas give; a few are recomputed here from independent references (scipy's Sobel, numpy's
convolve on unit vectors, counts of the Laplacian's stencil) rather than trusted from the figure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.lecture.catalog import Figure, figures
from cnnkit.lecture.context import LectureContext

NAMES = ["sobel", "lowpass", "properties", "laplacian-matrix", "backprop", "borders", "stride", "pooling", "dilation"]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Figure, Path]]:
    """drawn(name) -> (Figure, PNG path), each figure drawn the first time it is asked for."""
    out = tmp_path_factory.mktemp("lecture")
    context = LectureContext(work=out / "_work")
    entries = {entry.name: entry for entry in figures()}
    cache: dict[str, tuple[Figure, Path]] = {}

    def draw(name: str) -> tuple[Figure, Path]:
        if name not in cache:
            path = out / f"{name}.png"
            cache[name] = (entries[name].make(context, path), path)
        return cache[name]

    return draw


def test_the_part_registers_its_figures_in_lecture_order() -> None:
    assert [entry.name for entry in figures() if entry.part == "convolution"] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_figure_is_a_png_with_a_caption_and_json_numbers(drawn: Callable, name: str) -> None:
    figure, path = drawn(name)
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        image.verify()
    assert width > 600 and height > 200
    assert figure.caption.strip() and "\n" not in figure.caption
    assert figure.numbers and json.loads(json.dumps(figure.numbers)) == figure.numbers  # plain JSON values


def test_sobel_equals_scipy_and_its_sign_is_the_flipped_kernel_s(drawn: Callable) -> None:
    from scipy import ndimage

    from cnnkit.ops import convolve2d, filters

    figure, _ = drawn("sobel")
    assert figure.numbers["max_error"] < 1e-12
    # scipy's Sobel correlates with [-1, 0, 1]; true convolution flips it, so cnnkit's gx is its negative
    # (the caption's "positive where the image gets darker to the right").
    image = LectureContext(work=Path("unused")).photo(256)[0].double()
    gx = convolve2d(image[None, None], filters.sobel("x", dtype=torch.float64)[None, None], padding="same")[0, 0]
    assert np.abs(gx.numpy() + ndimage.sobel(image.numpy(), axis=1, mode="constant")).max() < 1e-12


def test_lowpass_removes_high_frequencies(drawn: Callable) -> None:
    numbers = drawn("lowpass")[0].numbers
    assert numbers["max_error"] < 1e-12
    assert numbers["high_energy_gaussian"] < numbers["high_energy_box"] < numbers["high_energy_photo"] / 10


def test_properties_hold_to_rounding(drawn: Callable) -> None:
    numbers = drawn("properties")[0].numbers
    for key in ("commutativity", "commutativity_numpy", "bilinearity_input", "bilinearity_kernel",
                "equivariance_circular", "associativity"):
        assert numbers[key] < 10 * np.finfo(np.float64).eps, key
        assert numbers["absolute"][key] < 1e-12, key
    assert numbers["equivariance_photo_interior"] == 0


def test_laplacian_matrix_has_the_stencil_s_shape_and_entries(drawn: Callable) -> None:
    numbers = drawn("laplacian-matrix")[0].numbers
    n = 6
    assert numbers["shape"] == [n * n, n * n]
    # One -4 per pixel and a 1 for each ordered pair of horizontal or vertical neighbours inside the image.
    assert numbers["nonzeros"] == n * n + 4 * n * (n - 1)
    assert numbers["stored_entries"] == (3 * n - 2) ** 2  # every 3x3 tap inside the image, zero corners included
    assert numbers["max_error"] == numbers["jacobian_error"] == numbers["backward_error"] == 0


def test_backprop_matches_the_gradient_from_its_definition(drawn: Callable) -> None:
    numbers = drawn("backprop")[0].numbers
    assert numbers["max_error"] == 0
    # L = sum(dy * (x * w)) is linear in x and in w: its gradient is L of the unit vectors, with numpy's convolve.
    x, w, dy = np.array([1, 2, 0, -1, 3, 1, 2.0]), np.array([2, -1, 1.0]), np.array([1, 0, -1, 2, 1.0])
    dx = [np.sum(dy * np.convolve(e, w, mode="valid")) for e in np.eye(len(x))]
    dw = [np.sum(dy * np.convolve(x, e, mode="valid")) for e in np.eye(len(w))]
    assert numbers["dx"] == dx and numbers["dw"] == dw


def test_borders_give_the_formula_s_sizes(drawn: Callable) -> None:
    numbers = drawn("borders")[0].numbers
    n, k = numbers["n"], numbers["k"]
    assert numbers["sizes"] == {"valid": n - k + 1, "same": n, "full": n + k - 1}
    assert numbers["sizes_correct"] == numbers["sizes_checked"] > 0
    assert numbers["max_error"] < 1e-12


def test_stride_is_subsampled_convolution(drawn: Callable) -> None:
    numbers = drawn("stride")[0].numbers
    assert numbers["max_error"] == numbers["valid_error"] == 0
    assert numbers["torch_error"] < 1e-12
    h = numbers["input_shape"][0]
    assert numbers["full_shape"] == [h + 2, h + 2]  # full borders, 3x3 kernel
    assert numbers["strided_shape"] == [math.ceil((h + 2) / 2)] * 2


def test_pooling_routes_the_gradient_to_the_arg_max_as_torch_does(drawn: Callable) -> None:
    numbers = drawn("pooling")[0].numbers
    assert numbers["max_error"] == numbers["forward_error"] == 0
    assert numbers["indices_equal"] is True
    assert numbers["routed"] == numbers["dx_nonzero"] == 4  # one winner per 2x2 window of the 4x4 input


def test_dilation_footprints_and_the_stack_s_receptive_field(drawn: Callable) -> None:
    numbers = drawn("dilation")[0].numbers
    assert numbers["footprint_sides"] == [(3 - 1) * d + 1 for d in (1, 2, 4)]
    assert numbers["stack_receptive_field"] == numbers["stack_formula"] == 1 + 2 * (1 + 2 + 4)
    assert numbers["plain_stack_receptive_field"] == 7
    assert numbers["torch_error"] < 1e-12
