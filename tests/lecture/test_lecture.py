"""cnnkit lecture: the catalogue in the lecture's order, the trained figures' numbers against independent
recomputations, and the command as a user meets it (merging, --list, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnkit.errors import ConfigError
from cnnkit.lecture import PARTS, LectureContext, figures, select_figures

EXPECTED = {
    "convolution": ["sobel", "lowpass", "properties", "laplacian-matrix", "backprop", "borders", "stride", "pooling",
                    "dilation"],
    "cnns": ["weight-sharing", "receptive-field", "lenet-maps", "filters", "architectures", "shift"],
    "visualisation": ["maximisation", "class-models", "deepdream", "landscape"],
    "adversarial": ["fgsm", "universal", "physical"],
}


def test_the_catalogue_follows_the_lecture() -> None:
    entries = figures()
    assert list(PARTS) == list(EXPECTED)
    assert [e.name for e in entries] == [name for names in EXPECTED.values() for name in names]
    assert all(e.title and e.make.__doc__ for e in entries)
    assert [e.name for e in select_figures(["adversarial", "sobel"])] == ["sobel", "fgsm", "universal", "physical"]
    with pytest.raises(ConfigError, match="did you mean 'fgsm'"):
        select_figures(["fgsn"])


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> LectureContext:
    """The lecture's LeNet-5, trained for one epoch on Fashion-MNIST (seconds)."""
    return LectureContext(work=tmp_path_factory.mktemp("lecture") / "_work", epochs=1)


def _draw(context: LectureContext, name: str) -> tuple[dict, Path]:
    entry = next(e for e in figures() if e.name == name)
    path = context.work.parent / f"{name}.png"
    figure = entry.make(context, path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 500
    assert len(figure.caption) > 80
    json.dumps(figure.numbers)  # plain JSON values
    return figure.numbers, path


def test_weight_sharing_counts_by_hand(context: LectureContext) -> None:
    numbers, _ = _draw(context, "weight-sharing")
    lenet = numbers["counts"]["lenet5"]
    assert lenet == {"shared": 6 * 25 + 16 * 6 * 25, "local": 6 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10,
                     "dense": 784 * 6 * 784 + 6 * 14 * 14 * 16 * 10 * 10}
    assert numbers["local_equals_conv_max_error"] < 1e-5


def test_receptive_field_prediction_equals_the_gradient_support(context: LectureContext) -> None:
    numbers, _ = _draw(context, "receptive-field")
    assert numbers["receptive_field"] == numbers["gradient_support"] == [3, 3, 7, 7, 15, 15]


def test_architectures_match_the_papers(context: LectureContext) -> None:
    numbers, _ = _draw(context, "architectures")
    assert numbers["lenet5_1998"]["parameters"] == 60_000
    assert numbers["vgg16"]["parameters"] == 138_357_544
    for name, tolerance in (("alexnet", 0.02), ("googlenet", 0.03)):
        assert abs(numbers[name]["parameters"] / numbers[name]["published"] - 1) < tolerance


def test_trained_figures_state_what_the_model_does(context: LectureContext) -> None:
    run = context.run()
    maps, _ = _draw(context, "lenet-maps")
    x, y = context.images(1, seed=context.seed + 3)
    with torch.no_grad():
        probs = run.model(x).softmax(1)[0]
    assert maps["predicted"] == context.classes()[int(probs.argmax())]
    assert maps["probability"] == pytest.approx(float(probs.max()), abs=1e-6)
    assert maps["shapes"]["features.1"] == [6, 28, 28] and maps["shapes"]["features.5"] == [16, 5, 5]

    shift, _ = _draw(context, "shift")
    x, y = context.images(300)
    with torch.no_grad():
        accuracy = float((run.model(x).argmax(1) == y).float().mean())
    assert shift["circular"]["accuracy_unshifted"] == pytest.approx(accuracy)
    assert shift["zeros"]["accuracy_unshifted"] == pytest.approx(accuracy)
    assert 0 < shift["circular"]["consistency"] < 1

    landscape, _ = _draw(context, "landscape")
    x, y = context.images(500)
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(run.model(x), y))
    assert landscape["loss_trained"] == pytest.approx(loss, rel=1e-4)
    assert landscape["loss_max"] > landscape["loss_trained"]


def test_synthesis_figures_raise_their_objectives(context: LectureContext) -> None:
    maximised, _ = _draw(context, "maximisation")
    assert maximised["median_ratio"] > 1  # the synthetic images beat every real test image for most channels
    dream, _ = _draw(context, "deepdream")
    assert dream["energy_after"] > 2 * dream["energy_before"]
    classes, _ = _draw(context, "class-models")
    assert sorted(classes["confidence"].values())[5] > 0.5


def test_attack_figures(context: LectureContext) -> None:
    fgsm, _ = _draw(context, "fgsm")
    assert fgsm["adv_accuracy"] < fgsm["clean_accuracy"] - 0.2 and fgsm["linf_max"] <= 0.1 + 1e-6
    physical, _ = _draw(context, "physical")
    assert all(r is None or 0 <= r <= 1 for row in physical["rates"] for r in row)
    assert physical["clean_accuracy"] > 0.7


def test_the_command_merges_lists_and_refuses(run_cli, capsys, tmp_path: Path) -> None:
    out = tmp_path / "lecture"
    code, stdout, err = run_cli(["lecture", "--only", "architectures,receptive-field", "--out", str(out), "-q"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["lecture", "--only", "weight-sharing", "--out", str(out), "-q"], capsys)
    assert code == 0, err
    lecture = json.loads((out / "lecture.json").read_text())
    assert [p["name"] for p in lecture["parts"]] == list(EXPECTED)
    cnns = next(p for p in lecture["parts"] if p["name"] == "cnns")
    assert [f["name"] for f in cnns["figures"]] == ["weight-sharing", "receptive-field", "architectures"]
    assert all((out / f["image"]).is_file() for f in cnns["figures"])
    page = (out / "index.html").read_text()
    assert page.count("<img") == 3 and "http://" not in page.replace("http://www.w3.org", "")
    code, stdout, _ = run_cli(["lecture", "--list"], capsys)
    assert code == 0 and stdout.split("\n")[0].split()[1] == "sobel" and "physical" in stdout.split("\n")[-2]
    code, _, err = run_cli(["lecture", "--only", "sobell"], capsys)
    assert code == 2 and "did you mean 'sobel'" in err and "Traceback" not in err


def test_the_command_never_writes_over_a_folder_of_the_users(run_cli, capsys, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<html>my page</html>")
    code, _, err = run_cli(["lecture", "--only", "architectures", "--out", str(mine), "-q"], capsys)
    assert code == 2 and "did not write" in err and "Traceback" not in err
    assert (mine / "index.html").read_text() == "<html>my page</html>" and sorted(p.name for p in mine.iterdir()) == [
        "index.html"]
    code, _, err = run_cli(["lecture", "--only", "architectures", "--out", str(mine / "index.html"), "-q"], capsys)
    assert code == 2 and "is a file" in err
    interrupted = tmp_path / "interrupted"  # what a run stopped before lecture.json leaves: it is taken up again
    (interrupted / "_work").mkdir(parents=True)
    (interrupted / "sobel.png").write_bytes(b"")
    (interrupted / ".borders.png.a1b2.tmp").write_bytes(b"")
    code, _, err = run_cli(["lecture", "--only", "architectures", "--out", str(interrupted), "-q"], capsys)
    assert code == 0, err
    assert (interrupted / "architectures.png").is_file() and (interrupted / "lecture.json").is_file()
    for args, message in ((["--epochs", "0"], "--epochs"), (["--data", "nope"], "no dataset 'nope'"),
                          (["--device", "cudaa"], "device must be auto, cpu, cuda")):
        code, _, err = run_cli(["lecture", *args, "--out", str(tmp_path / "new")], capsys)
        assert code == 2 and message in err and "Traceback" not in err and not (tmp_path / "new").exists()
