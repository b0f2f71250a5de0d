"""The shipped detector: in the package, small, reproducible by the command it names, the default of
``cnnkit detect``, and accurate on held-out scenes composed differently from its training scenes."""

from __future__ import annotations

import json
import re
import shlex

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.apps.detect.files import SHIPPED, detect_file, open_detector
from cnnkit.apps.detect.inference import detect_image
from cnnkit.apps.detect.metrics import GroundTruth, voc_average_precision
from cnnkit.apps.detect.proposals import selective_search
from cnnkit.apps.detect.scenes import CLASSES, DetectionSceneConfig, items_by_class, make_scene


def test_the_shipped_detector_is_small_and_names_its_command_and_commit():
    assert (SHIPPED / "model.safetensors").stat().st_size < 5_000_000
    record = json.loads((SHIPPED / "reproduce.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"])
    args = shlex.split(record["command"])
    assert args[:3] == ["cnnkit", "detect", "train"] and args[args.index("--name") + 1] == record["run_name"]
    info = json.loads((SHIPPED / "model.json").read_text())
    assert info["task"] == "detect" and info["classes"] == list(CLASSES)


@pytest.fixture(scope="module")
def shipped():
    return open_detector(None)


@pytest.fixture(scope="module")
def crowded():
    """Held-out photographs and items, more objects than training ever drew (4-7 against 1-4), a wider
    image (160 x 200 against 128 x 128) and seeds training never draws."""
    from cnnkit.apps.flow.task import scene_sources
    from cnnkit.apps.superres.photos import HELD_OUT_PHOTOS
    from cnnkit.data.catalog import load_dataset

    data = load_dataset("fashion-mnist", "test", download=False)
    config = DetectionSceneConfig(size=(160, 200), objects=(4, 7), side=(20, 64))
    photos = scene_sources(HELD_OUT_PHOTOS)
    return [make_scene(2 * 10**9 + i, photos, items_by_class(data.images, data.labels), config=config)
            for i in range(12)]


def test_the_shipped_detector_finds_objects_in_crowded_held_out_scenes(shipped, crowded):
    found = [detect_image(shipped.network, s.image, selective_search(s.image)) for s in crowded]
    ap = voc_average_precision(found, [GroundTruth(s.boxes, s.labels) for s in crowded], len(CLASSES))
    assert np.nanmean(ap) >= 0.75   # measured at shipping: 0.90 on 30 such scenes


def test_cnnkit_detect_uses_the_shipped_detector_by_default(shipped, crowded, tmp_path, run_cli, capfd):
    Image.fromarray((crowded[0].image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()).save(tmp_path / "s.png")
    code, out, err = run_cli(["detect", str(tmp_path / "s.png"), "-o", str(tmp_path / "boxes.png"), "--json"], capfd)
    assert code == 0, err
    _, expected = detect_file(shipped, tmp_path / "s.png")
    assert [d["class"] for d in json.loads(out)[0]["detections"]] == [CLASSES[i] for i in expected.labels.tolist()]
    assert len(expected.labels) >= 2 and (tmp_path / "boxes.png").is_file()
