"""Super-resolution through the one trainer: the models in the registry with their task, a run
that trains, resumes bit for bit and reloads, its evaluation recomputed by hand, and its report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from cnnkit.apps.superres import ESPCN, SRCNN, bicubic, degrade, rgb_to_ycbcr
from cnnkit.apps.superres.models import open_sr_model, sr_train_config
from cnnkit.apps.superres.task import SuperResolutionOptions, SuperResolutionTask, evaluate_photographs
from cnnkit.errors import CnnkitError, ConfigError, TrainingInterrupted
from cnnkit.models import create_model, get_model_entry, list_models
from cnnkit.runs import read_metrics
from cnnkit.runs.format import load_run
from cnnkit.train import fit, resume

SR_MODELS = ["espcn", "espcn_residual", "fsrcnn", "srcnn_915", "srcnn_935", "srcnn_955"]
TINY = {"width": 8, "depth": 3}  # espcn_residual at a size that trains in a second


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Five small photographs (colour, grey, RGBA) cut from scikit-image's, as files."""
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.astronaut()[100:196, 150:246]).save(folder / "a.png")
    Image.fromarray(data.camera()[200:290, 100:220]).save(folder / "b.png")
    Image.fromarray(data.coffee()[50:150, 200:320]).save(folder / "c.jpg", quality=95)
    rgba = np.dstack([data.rocket()[100:196, 300:396], np.full((96, 96), 200, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(folder / "d.png")
    Image.fromarray(data.chelsea()[80:176, 150:246]).save(folder / "e.png")
    return folder


def _config(photos: Path, out: Path, **extra):
    values = dict(scale=3, patches_per_epoch=96, batch_size=16, epochs=2, out=str(out), name="run", threads=1,
                  data="folder", data_dir=str(photos), model_kwargs=TINY)
    values.update(extra)
    return sr_train_config(**values)


@pytest.fixture(scope="module")
def reference(photos, tmp_path_factory) -> Path:
    return fit(_config(photos, tmp_path_factory.mktemp("ref")), progress=False).run_dir


def test_the_superres_models_register_with_their_task_and_not_as_classifiers():
    assert list_models(task="superres") == SR_MODELS
    assert not set(SR_MODELS) & set(list_models(task="classification"))
    assert set(SR_MODELS) < set(list_models())
    for name in SR_MODELS:
        assert get_model_entry(name).task == "superres"
        assert get_model_entry(name).in_chans == 1
        with torch.device("meta"):  # summary, rf and export build them this way
            create_model(name, in_chans=1, input_size=33)


def test_espcn_has_the_papers_layers_and_a_hand_counted_size():
    model = create_model("espcn", scale=3)
    # 5x5x64, 3x3x32 from 64, 3x3x9 from 32 (weights), plus 64 + 32 + 9 biases
    assert sum(p.numel() for p in model.parameters()) == 5 * 5 * 64 + 9 * 64 * 32 + 9 * 32 * 9 + 64 + 32 + 9
    x = torch.rand(2, 1, 10, 12)
    assert model(x).shape == (2, 1, 30, 36)


def test_espcn_residual_adds_bicubic_and_a_zero_body_gives_bicubic():
    model = create_model("espcn_residual", scale=2)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    x = torch.rand(1, 1, 12, 14)
    torch.testing.assert_close(model(x), bicubic(x, (24, 28)))
    assert isinstance(model, ESPCN) and model.learns_upsampling


def test_a_run_trains_and_its_evaluation_is_recomputed_independently(reference, photos):
    info = json.loads((reference / "model.json").read_text())
    assert info["task"] == "superres" and info["task_options"] == {"scale": 3, "degradation": "bicubic"}
    assert info["classes"] == [] and info["kwargs"]["scale"] == 3
    metrics = read_metrics(reference)
    assert [m["epoch"] for m in metrics] == [1, 2]
    last = metrics[-1]
    # the held-out share of the five photographs is the last one by name, e.png
    hr_rgb = np.asarray(Image.open(photos / "e.png"), dtype=np.float64) / 255
    y = rgb_to_ycbcr(torch.from_numpy(hr_rgb).permute(2, 0, 1))[0]
    y = (y * 255).round() / 255
    h, w = (s - s % 3 for s in y.shape)
    y = y[:h, :w].float()
    lr = degrade(y[None, None], 3, "bicubic")
    bic = (bicubic(lr, (h, w))[0, 0].clamp(0, 1) * 255).round() / 255
    by_hand = peak_signal_noise_ratio(y[3:-3, 3:-3].double().numpy(), bic[3:-3, 3:-3].double().numpy(), data_range=1)
    assert last["test_psnr_bicubic"] == pytest.approx(by_hand, abs=1e-6)
    sr = open_sr_model(reference)
    with torch.no_grad():
        out = sr.network(lr)[0, 0]
    out = (out.clamp(0, 1) * 255).round() / 255
    network = peak_signal_noise_ratio(y[3:-3, 3:-3].double().numpy(), out[3:-3, 3:-3].double().numpy(), data_range=1)
    assert last["test_psnr"] == pytest.approx(network, abs=1e-4)  # whole image vs tiles: the same pixels
    assert last["test_gain"] == pytest.approx(last["test_psnr"] - last["test_psnr_bicubic"])
    assert "train_psnr" in last and last["train_psnr"] > 15


def test_the_run_reloads_with_its_report_and_figures(reference):
    run = load_run(reference)
    assert run.info.task == "superres" and run.info.input_size == 16
    html = (reference / "report.html").read_text()
    for needle in ("PSNR curves", "Before and after", "Per photograph", "e.png"):
        assert needle in html
    for png in ("curves.png", "crops.png", "filters.png"):
        assert Image.open(reference / png).size[0] > 300


def test_a_stopped_run_resumes_to_the_same_weights(reference, photos, tmp_path, sigterm_at_step):
    with sigterm_at_step(8), pytest.raises(TrainingInterrupted):  # mid second epoch (6 steps an epoch)
        fit(_config(photos, tmp_path, checkpoint_every=0), progress=False)
    result = resume(tmp_path / "run", progress=False)  # config.json alone names the task
    assert (result.run_dir / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert read_metrics(result.run_dir)[-1]["test_psnr"] == read_metrics(reference)[-1]["test_psnr"]


def test_prepare_cuts_augments_and_degrades_patches_the_generator_decides(photos):
    config = _config(photos, Path("/nonexistent"), degradation="blur")
    task = SuperResolutionTask(config)
    train_set, test_set = task.datasets(config, torch.device("cpu"))
    assert len(train_set.photographs) == 4 and [n for n, _ in test_set] == ["e.png"]
    task.build(config, train_set, torch.device("cpu"))
    batch = torch.tensor([0, 1, 2, 3])
    x1, y1, n = task.prepare(batch, torch.device("cpu"), torch.Generator().manual_seed(3))
    x2, y2, _ = task.prepare(batch, torch.device("cpu"), torch.Generator().manual_seed(3))
    assert n == 4 and x1.shape == (4, 1, 16, 16) and y1.shape == (4, 1, 48, 48)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    torch.testing.assert_close(x1, degrade(y1, 3, "blur"))
    # every HR patch is one of the 8 symmetries of a square cut from its photograph
    for k in range(4):
        image = train_set.photographs[k][0].float() / 255
        patch = y1[k, 0]
        assert any(_contains(image, v) for v in _symmetries(patch))


def _symmetries(p):
    for flip in (False, True):
        q = p.flip(-1) if flip else p
        for r in range(4):
            yield torch.rot90(q, r, (-2, -1))


def _contains(image, patch) -> bool:
    s = patch.shape[-1]
    windows = image.unfold(0, s, 1).unfold(1, s, 1)
    return bool(((windows - patch).abs().amax(dim=(-2, -1)) < 1e-6).any())


def test_srcnn_without_padding_trains_on_the_cropped_target(photos, tmp_path):
    config = _config(photos, tmp_path, model="srcnn_915", model_kwargs={"border": "valid", "residual": True},
                     epochs=1, patches_per_epoch=32)
    task = SuperResolutionTask(config)
    train_set, _ = task.datasets(config, torch.device("cpu"))
    built = task.build(config, train_set, torch.device("cpu"))
    x, y, _ = task.prepare(torch.tensor([0, 1]), torch.device("cpu"), torch.Generator().manual_seed(0))
    assert isinstance(built.network, SRCNN) and x.shape == (2, 1, 48, 48) and y.shape == (2, 1, 36, 36)
    assert built.model(x).shape == y.shape
    evaluation = evaluate_photographs(built.network, [("p", train_set.photographs[0][:, :48, :48])],
                                      SuperResolutionOptions(scale=3))
    assert np.isfinite(evaluation.metrics["test_psnr"])


@pytest.mark.parametrize(("extra", "message"), [
    ({"scale": 5}, "scale must be an integer 2, 3 or 4"),
    ({"patch": 50}, "must be a multiple of the scale"),
    ({"degradation": "sharpen"}, "use bicubic, blur"),
    ({"model": "lenet5"}, "is a classification model"),
    ({"loss": "huber"}, "one of mse, l1"),
    ({"data_dir": "/nonexistent-photos"}, "is not a folder of photographs"),
])
def test_bad_settings_are_one_clear_error(photos, tmp_path, extra, message):
    with pytest.raises(CnnkitError, match=message):
        fit(_config(photos, tmp_path, **extra), progress=False)
    assert not any(tmp_path.iterdir())


def test_a_folder_without_images_or_with_one_photo_says_so(tmp_path, photos):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CnnkitError, match="holds no images"):
        fit(_config(empty, tmp_path / "o"), progress=False)
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.png").write_bytes((photos / "a.png").read_bytes())
    with pytest.raises(CnnkitError, match="holds one photograph"):
        fit(_config(one, tmp_path / "o"), progress=False)
    with pytest.raises(ConfigError, match="classification takes no task_options"):
        fit(sr_train_config(scale=2).replace(task="classification"), progress=False)


def test_two_processes_under_torchrun_train_one_superres_model(photos, tmp_path, torchrun_two_processes):
    args = ["sr", "train", str(photos), "--scale", "3", "--epochs", "1", "--patches", "64", "--batch-size", "16",
            "--threads", "1", "--out", str(tmp_path), "--name", "ddp", "-q", "--model", "espcn"]
    training = torchrun_two_processes(args, tmp_path / "ddp")
    assert training["processes"] == 2 and len(set(training["weights_sha256"])) == 1


def test_cnnkit_report_rebuilds_a_superres_report(reference, tmp_path):
    import shutil

    from cnnkit.train.report import rebuild_report

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    (copy / "report.html").unlink()
    (copy / "crops.png").unlink()
    rebuild_report(copy, device="cpu")
    assert "Before and after" in (copy / "report.html").read_text() and (copy / "crops.png").is_file()
