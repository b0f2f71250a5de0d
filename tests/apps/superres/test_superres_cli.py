"""``cnnkit sr``, ``sr train`` and ``sr eval`` as a user runs them: outputs of every image mode,
the evaluation table recomputed with scikit-image, and one line with exit code 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from cnnkit.apps.superres import bicubic, degrade, rgb_to_ycbcr
from cnnkit.cli.main import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny x2 run trained by the command itself on a folder of four photographs."""
    root = tmp_path_factory.mktemp("sr")
    photos = root / "photos"
    photos.mkdir()
    Image.fromarray(data.astronaut()[100:196, 150:246]).save(photos / "a.png")
    Image.fromarray(data.camera()[200:296, 100:220]).save(photos / "b.png")
    Image.fromarray(data.rocket()[100:196, 300:396]).save(photos / "c.png")
    Image.fromarray(data.coffee()[50:146, 200:320]).save(photos / "d.png")
    try:
        main(["sr", "train", str(photos), "--scale", "2", "--epochs", "1", "--patches", "64", "--batch-size", "16",
              "--threads", "1", "--out", str(root / "runs"), "--name", "x2", "-q", "--model", "espcn"])
    except SystemExit as exit_:
        assert not exit_.code
    return root / "runs" / "x2"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    paths = {"rgb": folder / "rgb.jpg", "grey": folder / "grey.png", "rgba": folder / "rgba.png",
             "la": folder / "la.png", "palette": folder / "palette.gif"}
    Image.fromarray(data.chelsea()[:40, :52]).save(paths["rgb"], quality=95)
    Image.fromarray(data.camera()[:36, :44]).save(paths["grey"])
    alpha = np.tile(np.linspace(0, 255, 44, dtype=np.uint8), (36, 1))
    Image.fromarray(np.dstack([data.astronaut()[:36, :44], alpha]), mode="RGBA").save(paths["rgba"])
    Image.fromarray(np.dstack([data.camera()[:36, :44], alpha]), mode="LA").save(paths["la"])
    Image.fromarray(data.astronaut()[:36, :44]).convert("P").save(paths["palette"])
    return paths


def test_sr_train_writes_a_superres_run(trained):
    info = json.loads((trained / "model.json").read_text())
    assert info["task"] == "superres" and info["task_options"]["scale"] == 2 and info["architecture"] == "espcn"
    assert (trained / "report.html").is_file()


def test_sr_keeps_each_images_mode_and_multiplies_its_size(trained, images, tmp_path, run_cli, capfd):
    inputs = [str(p) for p in images.values()]
    code, out, err = run_cli(["sr", *inputs, "--model", str(trained), "-o", str(tmp_path / "big"), "-q"], capfd)
    assert code == 0, err
    written = [Path(line) for line in out.split()]
    assert [p.name for p in written] == [f"{Path(p).stem}_x2.png" for p in inputs]
    modes = {name: Image.open(path).mode for name, path in zip(images, written)}
    assert modes == {"rgb": "RGB", "grey": "L", "rgba": "RGBA", "la": "LA", "palette": "RGB"}
    for name, path in zip(images, written):
        w, h = Image.open(images[name]).size
        assert Image.open(path).size == (2 * w, 2 * h)
    # alpha is resized by bicubic, not by the network
    source = np.asarray(Image.open(images["rgba"]), dtype=np.float32)[:, :, 3] / 255
    expected = bicubic(torch.from_numpy(source)[None, None], (72, 88))[0, 0].clamp(0, 1).numpy()
    got = np.asarray(Image.open(written[2]), dtype=np.float32)[:, :, 3] / 255
    assert np.abs(got - expected).max() <= 0.5 / 255 + 1e-6


def test_sr_eval_table_matches_scikit_image(trained, tmp_path, run_cli, capfd):
    photo = tmp_path / "held.png"
    Image.fromarray(data.chelsea()[:120, :160]).save(photo)
    code, out, err = run_cli(["sr", "eval", str(trained), str(photo), "-o", str(tmp_path / "eval")], capfd)
    assert code == 0, err
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert Image.open(tmp_path / "eval" / "crops.png").size[0] > 300
    rgb = torch.from_numpy(data.chelsea()[:120, :160].astype(np.float64) / 255).permute(2, 0, 1)
    y = (rgb_to_ycbcr(rgb)[0] * 255).round() / 255
    lr = degrade(y[None, None].float(), 2, "bicubic")
    bic = (bicubic(lr, (120, 160))[0, 0].clamp(0, 1) * 255).round() / 255
    expected = peak_signal_noise_ratio(y[2:-2, 2:-2].numpy(), bic[2:-2, 2:-2].double().numpy(), data_range=1)
    assert result["psnr"]["bicubic"][0] == pytest.approx(expected, abs=1e-6)
    lanczos = np.asarray(Image.fromarray(lr[0, 0].numpy(), mode="F").resize((160, 120), Image.Resampling.LANCZOS))
    lanczos = np.round(np.clip(lanczos, 0, 1) * 255) / 255
    expected = peak_signal_noise_ratio(y[2:-2, 2:-2].numpy(), lanczos[2:-2, 2:-2].astype(np.float64), data_range=1)
    assert result["psnr"]["lanczos"][0] == pytest.approx(expected, abs=1e-5)
    assert "mean" in out and "held.png" in out


def test_sr_eval_measures_a_degradation_the_model_was_not_trained_on(trained, tmp_path, run_cli, capfd):
    photo = tmp_path / "held.png"
    Image.fromarray(data.chelsea()[:120, :160]).save(photo)
    results = {}
    for kind in ("bicubic", "blur", "jpeg"):
        code, _, err = run_cli(["sr", "eval", str(trained), str(photo), "--degradation", kind, "-o",
                             str(tmp_path / kind)], capfd)
        assert code == 0, err
        results[kind] = json.loads((tmp_path / kind / "eval.json").read_text())
    assert results["blur"]["degradation"] == "blur"
    assert results["blur"]["psnr"]["bicubic"][0] != results["bicubic"]["psnr"]["bicubic"][0]


@pytest.mark.parametrize(("args", "message"), [
    (["--scale", "5"], "scale must be an integer 2, 3 or 4"),
    (["--scale", "1"], "scale must be an integer 2, 3 or 4"),
    (["--scale", "2.5"], "should be a valid integer"),
    (["--scale", "3"], "upscales x2, not x3"),
])
def test_sr_bad_scale_is_one_line(trained, images, tmp_path, run_cli, capfd, args, message):
    code, out, err = run_cli(["sr", str(images["rgb"]), "--model", str(trained), "-o", str(tmp_path / "o"), *args], capfd)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_sr_refuses_bad_files_before_writing_anything(trained, images, tmp_path, run_cli, capfd):
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(data.camera()[:5, :5]).save(tiny)
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [
        ([str(images["rgb"]), str(fake)], tmp_path / "o1", "cannot decode"),
        ([str(images["rgb"]), str(tiny)], tmp_path / "o2", "smaller than the network's field"),
        ([str(images["rgb"])], blocker / "sub", "cannot write to"),
        ([str(images["rgb"]), str(images["grey"])], blocker, "is a file"),
        ([str(tmp_path / "missing.png")], tmp_path / "o3", "missing.png"),
    ]
    for inputs, out, message in cases:
        code, _, err = run_cli(["sr", *inputs, "--model", str(trained), "-o", str(out)], capfd)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (message, err)
        assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    code, _, err = run_cli(["sr", str(images["rgb"]), "--model", "lenet5"], capfd)
    assert code == 2 and "neither a run directory nor a shipped model" in err


def test_sr_train_refuses_a_folder_without_photos(tmp_path, run_cli, capfd):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["sr", "train", str(tmp_path / "empty"), "--out", str(tmp_path / "runs")], capfd)
    assert code == 2 and "holds no images" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    code, _, err = run_cli(["sr", "train", "--resume", str(tmp_path / "runs" / "x"), "--scale", "2"], capfd)
    assert code == 2 and "drop --scale" in err


@pytest.mark.parametrize("command", [["eval"], ["predict", "IMAGE"], ["attack"], ["explain", "saliency"],
                                     ["explain", "classes"], ["explain", "landscape"]])
def test_classification_commands_refuse_a_superres_run_in_one_line(trained, images, run_cli, capfd, command):
    args = [*command[:2 if command[0] == "explain" else 1], str(trained)]
    if command[-1] == "IMAGE":
        args = ["predict", str(trained), str(images["rgb"])]
    code, _, err = run_cli(args, capfd)
    assert code == 2 and "is a superres model" in err and len(err.strip().splitlines()) == 1, err


def test_filters_and_summary_take_a_superres_model(trained, tmp_path, run_cli, capfd):
    code, out, err = run_cli(["explain", "filters", str(trained), "--out", str(tmp_path / "f")], capfd)
    assert code == 0, err
    code, out, err = run_cli(["summary", "espcn_residual"], capfd)
    assert code == 0 and "58,409 parameters" in out, err
