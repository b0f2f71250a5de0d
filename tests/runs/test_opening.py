"""Opening a run or a registered name, preparing images, and leaving the caller's model alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data import load_dataset
from cnnkit.errors import ConfigError, RunDirError
from cnnkit.runs import check_images, load_images, open_model, sample_images
from cnnkit.runs import load_run


def test_a_run_directory_opens_as_load_run_does(digits_run: Path) -> None:
    opened, loaded = open_model(digits_run), load_run(digits_run)
    assert opened.info == loaded.info and opened.path == loaded.path
    assert opened.model.input_size == loaded.model.input_size == 8  # synthesis methods read it
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(opened.model(x), loaded.model(x), rtol=0, atol=0)


def test_a_registered_name_gives_seeded_fresh_weights() -> None:
    a, b, c = open_model("lenet5"), open_model("lenet5"), open_model("lenet5", seed=1)
    assert a.path is None and a.info.dataset is None and len(a.info.classes) == 10
    wa, wb, wc = (next(r.network.parameters()) for r in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert not a.model.training
    wide = open_model("resnet18", num_classes=7, input_size=32)
    assert len(wide.info.classes) == 7 and wide.model(torch.rand(2, 3, 32, 32)).shape == (2, 7)


def test_neither_a_directory_nor_a_name_says_what_run_can_be() -> None:
    with pytest.raises(RunDirError, match="neither a run directory nor a registered model name; did you mean 'lenet5'"):
        open_model("lenet55")


def test_check_images_refuses_what_the_model_cannot_take(digits_run: Path) -> None:
    info = load_run(digits_run).info
    check_images(torch.rand(2, 1, 8, 8), info)
    assert check_images(torch.rand(1, 8, 8), info).shape == (1, 1, 8, 8)
    for bad, message in [(torch.rand(2, 3, 8, 8), "shape"), (torch.rand(2, 1, 9, 9), "shape"),
                         (torch.rand(2, 1, 8, 8) * 2, r"outside \[0, 1\]"), (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), "255")]:
        with pytest.raises(ConfigError, match=message):
            check_images(bad, info)


def test_sample_images_are_dataset_images_with_their_labels(digits_run: Path) -> None:
    run = load_run(digits_run)
    x, y = sample_images(run, 12, seed=3)
    again, _ = sample_images(run, 12, seed=3)
    assert x.shape == (12, 1, 8, 8) and torch.equal(x, again)
    test = load_dataset("digits", "test")
    table = {bytes(img.numpy().tobytes()): int(label) for img, label in zip(test.images, test.labels)}
    for image, label in zip(x, y):
        assert table[bytes((image * 255).round().to(torch.uint8).numpy().tobytes())] == int(label)


def test_image_files_are_converted_and_resized(digits_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(path)
    x = load_images([path], load_run(digits_run).info)
    assert x.shape == (1, 1, 8, 8)
    torch.testing.assert_close(x, torch.full_like(x, 200 / 255))
