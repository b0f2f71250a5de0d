"""``cnnkit attack``: the page, JSON and table per invocation, checked against the library, and one-line
errors (exit 2) for bad input."""

from __future__ import annotations

import json

import pytest
import torch

ARGS = ["--count", "16", "--quiet"]


@pytest.fixture(scope="module")
def digits_images(digits_run):
    from cnnkit.runs import open_model, sample_images

    run = open_model(str(digits_run), device=torch.device("cpu"))
    x, y = sample_images(run, 16, seed=0)
    return run.model, x, y


def test_attack_writes_page_json_and_figures(digits_run, digits_images, run_cli, capsys, tmp_path):
    out = tmp_path / "attack"
    code, stdout, err = run_cli(["attack", str(digits_run), "--method", "fgsm,bim,ll,pgd", "--eps", "0.05,0.2", "--steps", "3",
                                 "--out", str(out), "--device", "cpu", "--count", "16"], capsys)
    assert code == 0, err
    assert "FGSM" in stdout and "eps 0.2" in stdout and "index.html" in stdout
    for name in ("index.html", "results.json", "robustness.png", "examples-fgsm.png", "examples-bim.png",
                 "examples-ll.png", "examples-pgd.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert results["eps"] == [0.05, 0.2] and results["count"] == 16
    from cnnkit.attacks import BIM, FGSM, PGD, LeastLikely

    model, x, y = digits_images
    for name, attack in (("FGSM", FGSM), ("BIM", BIM), ("LL", LeastLikely), ("PGD", PGD)):
        for eps, accuracy in zip((0.05, 0.2), results["accuracy"][name]):
            kwargs = {} if attack is FGSM else {"steps": 3}
            assert accuracy == pytest.approx(attack(eps=eps, **kwargs)(model, x, y).adv_accuracy), name
    assert results["methods"]["BIM"] == repr(BIM(eps=0.05, steps=3))


def test_targeted_attack_reports_target_hits(digits_run, digits_images, run_cli, capsys, tmp_path):
    code, _, err = run_cli(["attack", str(digits_run), "--method", "pgd", "--eps", "0.3", "--targeted", "3", "--steps", "5",
                            "--out", str(tmp_path), *ARGS], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    from cnnkit.attacks import PGD

    model, x, y = digits_images
    result = PGD(eps=0.3, steps=5)(model, x, y, target=torch.full_like(y, 3))
    assert results["success"]["PGD"] == [pytest.approx(float((result.adv_pred == 3).float().mean()))]
    assert results["targeted"] == "3"
    for targeted in ("random", "least-likely"):
        code, _, err = run_cli(["attack", str(digits_run), "--method", "fgsm", "--eps", "0.1", "--targeted", targeted,
                                "--out", str(tmp_path / targeted), "--count", "4", "--quiet"], capsys)
        assert code == 0, err
        target = json.loads((tmp_path / targeted / "results.json").read_text())["success"]["FGSM"]
        assert 0 <= target[0] <= 1


def test_physical_writes_the_destruction_table(digits_run, run_cli, capsys, tmp_path):
    code, stdout, err = run_cli(["attack", str(digits_run), "--physical", "--method", "fgsm,bim", "--eps", "0.2", "--steps",
                                 "4", "--out", str(tmp_path), "--count", "16"], capsys)
    assert code == 0, err
    table = json.loads((tmp_path / "destruction.json").read_text())
    assert table["attacks"] == ["FGSM eps=0.2", "BIM eps=0.2"]
    assert "jpeg q=75" in table["transforms"] and "jpeg q=75" in stdout
    assert all(r is None or 0 <= r <= 1 for row in table["rates"] for r in row)
    assert (tmp_path / "index.html").is_file() and (tmp_path / "destruction.png").is_file()


def test_attack_on_an_image_file(digits_run, digits_images, run_cli, capsys, tmp_path):
    from PIL import Image

    _, x, _ = digits_images
    path = tmp_path / "digit.png"
    Image.fromarray((x[0, 0] * 255).round().byte().numpy()).save(path)
    code, _, err = run_cli(["attack", str(digits_run), "--image", str(path), "--method", "fgsm", "--eps", "0.1",
                            "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "results.json").read_text())["labelled"] is False


@pytest.mark.parametrize("args,message", [
    (["--eps", "-0.1"], "--eps must be >= 0"),
    (["--eps", "1.5"], "beyond the pixel range"),
    (["--eps", "abc"], "--eps takes numbers"),
    (["--method", "fgsm,foo"], "unknown method foo; valid: fgsm, bim, ll, pgd"),
    (["--targeted", "12"], "out of range: the model has classes 0..9"),
    (["--targeted", "banana"], "no class of this model"),
    (["--method", "ll", "--targeted", "2"], "untargeted only"),
    (["--steps", "0"], "--steps must be an integer in [1, 100,000]"),
    (["--image", "missing.png"], "missing.png"),
])
def test_bad_input_is_one_line_and_exit_2(digits_run, run_cli, capsys, tmp_path, args, message):
    code, stdout, err = run_cli(["attack", str(digits_run), *ARGS, "--out", str(tmp_path), *args], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unreadable_image_and_no_dataset(digits_run, run_cli, capsys, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    code, _, err = run_cli(["attack", str(digits_run), "--image", str(broken), "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1
    code, _, err = run_cli(["attack", "fastnet", "--method", "fgsm", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "no dataset" in err and err.count("\n") == 1


def test_methods_from_other_modules_fail_cleanly_when_absent(digits_run, run_cli, capsys, tmp_path):
    import cnnkit.attacks

    for method, needed in (("deepfool", "DeepFool"), ("universal", "UniversalPerturbation")):
        if hasattr(cnnkit.attacks, needed):
            continue
        code, _, err = run_cli(["attack", str(digits_run), "--method", method, "--out", str(tmp_path), *ARGS], capsys)
        assert code == 2 and needed in err and err.count("\n") == 1


def test_compare_attacks_another_run_on_the_same_images(digits_run, digits_images, untrained_run, run_cli, capsys,
                                                         tmp_path):
    from cnnkit.attacks import FGSM
    from cnnkit.runs import open_model

    other = untrained_run("fastnet", in_chans=1, input_size=8)  # same task, untrained weights
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(["attack", str(digits_run), "--method", "fgsm", "--eps", "0.1", "--compare", str(other),
                                 "--out", str(out), "--device", "cpu", *ARGS], capsys)
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    (label, compared), = results["compared"].items()
    assert label == other.name and (out / "robustness-comparison.png").stat().st_size > 0
    _, x, y = digits_images
    expected = FGSM(eps=0.1)(open_model(str(other)).model, x, y).adv_accuracy
    assert compared["accuracy"]["FGSM"] == [pytest.approx(expected)]

    mismatched = untrained_run("lenet5", in_chans=1, input_size=28)
    code, _, err = run_cli(["attack", str(digits_run), "--compare", str(mismatched), *ARGS], capsys)
    assert code == 2 and err.count("\n") == 1 and "same task" in err


def _fail_late(monkeypatch, seen: list) -> None:
    """The page writer, the last step of every invocation, fails as a full disk would; ``seen`` gets what was written."""
    import cnnkit.reports.attacks as attack_pages
    from cnnkit.errors import OutputError

    def fail(folder, *args, **kwargs):
        seen.append((folder.name, sorted(p.name for p in folder.iterdir())))
        raise OutputError("cannot write the report (simulated: disk full)")

    monkeypatch.setattr(attack_pages, "write_page", fail)


def test_a_failed_attack_leaves_nothing_behind(digits_run, digits_images, run_cli, capsys, tmp_path, monkeypatch):
    from PIL import Image

    _, x, _ = digits_images
    Image.fromarray((x[0, 0] * 255).round().byte().numpy()).save(tmp_path / "digit.png")
    seen: list = []
    _fail_late(monkeypatch, seen)
    code, _, err = run_cli(["attack", str(digits_run), "--method", "fgsm", "--eps", "0.1", "--out",
                            str(tmp_path / "out"), *ARGS], capsys)
    assert code == 2 and "simulated: disk full" in err and err.count("\n") == 1
    # the figure was written, under the temporary name, and removed with its folder
    assert seen[0][0].startswith(".out.partial-") and "robustness.png" in seen[0][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digit.png"]
    # the default location (attack/MODEL/NAME for a registered name): no folder, no parents it made
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["attack", "lenet5", "--image", "digit.png", "--method", "fgsm", "--eps", "0.1", "--quiet"],
                           capsys)
    assert code == 2 and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digit.png"]


def test_a_rerun_replaces_the_folder_only_when_complete(digits_run, run_cli, capsys, tmp_path, monkeypatch):
    out = tmp_path / "out"
    code, _, err = run_cli(["attack", str(digits_run), "--method", "fgsm,bim", "--eps", "0.1", "--steps", "2",
                            "--out", str(out), *ARGS], capsys)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "examples-bim.png" in before and "index.html" in before

    with monkeypatch.context() as patched:
        seen: list = []
        _fail_late(patched, seen)
        code, _, err = run_cli(["attack", str(digits_run), "--method", "pgd", "--eps", "0.2", "--steps", "2",
                                "--out", str(out), *ARGS], capsys)
        assert code == 2 and err.count("\n") == 1 and seen
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the complete folder survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]      # no partial or old folder beside it

    code, stdout, err = run_cli(["attack", str(digits_run), "--method", "pgd", "--eps", "0.2", "--steps", "2",
                                 "--out", str(out), *ARGS], capsys)
    assert code == 0, err
    assert stdout.endswith(f"wrote {out / 'index.html'}\n")
    assert sorted(p.name for p in out.iterdir()) == ["examples-pgd.png", "index.html", "results.json", "robustness.png"]
    assert json.loads((out / "results.json").read_text())["eps"] == [0.2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_out_is_not_a_folder_of_the_users_own(digits_run, run_cli, capsys, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, _, err = run_cli(["attack", str(digits_run), "--method", "fgsm", "--eps", "0.1", "--out", str(mine), *ARGS],
                           capsys)
    assert code == 2 and "choose a new or empty folder" in err and err.count("\n") == 1
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and len(list(tmp_path.iterdir())) == 1
    code, _, err = run_cli(["attack", str(digits_run), "--out", str(mine / "notes.txt"), *ARGS], capsys)
    assert code == 2 and "is a file" in err and err.count("\n") == 1


def test_universal_shows_progress_unless_quiet(digits_run, run_cli, capsys, tmp_path, monkeypatch):
    from cnnkit.progress import ProgressBar

    calls: list = []
    update = ProgressBar.update
    monkeypatch.setattr(ProgressBar, "update", lambda self, done, total: (calls.append((done, total)),
                                                                        update(self, done, total)))
    args = ["attack", str(digits_run), "--method", "universal", "--xi", "0.3", "--fit-count", "16", "--count", "8"]
    code, stdout, err = run_cli([*args, "--out", str(tmp_path / "u")], capsys)
    assert code == 0, err
    assert calls and calls[-1][0] == calls[-1][1] and all(a[0] < b[0] for a, b in zip(calls, calls[1:]))
    assert calls[0][1] == 10 * 16  # the most images the fit can visit: 10 passes of 16
    assert "universal" in err and "images" in err
    results = json.loads((tmp_path / "u" / "results.json").read_text())
    assert results["fit_images"] == 16 and 0 <= results["fooling_rate"] <= 1
    code, stdout, err = run_cli([*args, "--out", str(tmp_path / "q"), "--quiet"], capsys)
    assert code == 0 and err == ""
