"""``cnnkit explain filters | maps | saliency`` end to end on the digits run."""

from __future__ import annotations

import numpy as np
from PIL import Image


def test_saliency_writes_the_figure_page_and_completeness(digits_run, run_cli, capsys, tmp_path):
    out = tmp_path / "sal"
    code, stdout, err = run_cli(["explain", "saliency", str(digits_run), "--count", "3", "--steps", "16",
                                 "--samples", "4", "--target", "true", "--out", str(out)], capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[-1] == f"wrote {out / 'index.html'}"
    assert "completeness error mean" in stdout and "Grad-CAM at layer" in stdout
    assert (out / "index.html").exists() and "Attribution maps" in (out / "index.html").read_text()
    assert np.asarray(Image.open(out / "attribution.png")).shape[0] > 200


def test_saliency_on_an_image_file_of_another_size(digits_run, run_cli, capsys, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)).save(photo)
    code, stdout, err = run_cli(["explain", "saliency", str(digits_run), "--image", str(photo), "--method",
                                 "saliency,gradcam", "--target", "3", "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    assert "completeness" not in stdout


def test_filters_and_maps(digits_run, run_cli, capsys, tmp_path):
    code, stdout, err = run_cli(["explain", "filters", str(digits_run), "--out", str(tmp_path / "f")], capsys)
    assert code == 0, err
    assert list((tmp_path / "f").glob("filters-*.png"))
    code, stdout, err = run_cli(["explain", "maps", str(digits_run), "--layer", "features.1", "--count", "2",
                                 "--out", str(tmp_path / "m")], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "m").glob("maps-*.png"))) == 2


def test_user_errors_are_one_line_and_exit_2(digits_run, run_cli, capsys, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    cases = [
        (["explain", "saliency", str(digits_run), "--image", str(text)], "image"),
        (["explain", "maps", str(digits_run), "--layer", "nope"], "valid layers"),
        (["explain", "saliency", str(digits_run), "--target", "10", "--count", "1"], "out of range"),
        (["explain", "saliency", str(digits_run), "--method", "lime"], "unknown method"),
        (["explain", "filters", "no-such-model"], "neither a run directory nor a registered model"),
        (["explain", "filters", str(digits_run), "--layer", "head"], "layers with filters"),
    ]
    for args, needle in cases:
        code, stdout, err = run_cli(args + ["--out", str(tmp_path / "never")], capsys)
        assert code == 2, (args, err)
        assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "never").exists()


def test_saliency_page_says_what_the_colours_mean(digits_run, run_cli, capsys, tmp_path):
    out = tmp_path / "sal"
    code, _, err = run_cli(["explain", "saliency", str(digits_run), "--count", "2", "--steps", "8", "--samples", "2",
                            "--out", str(out)], capsys)
    assert code == 0, err
    page = (out / "index.html").read_text()
    assert "divided by its own largest |value| in each image" in page
    assert "red pixels raise the class score, blue ones lower it" in page and "Grad-CAM: the ReLU" in page


def test_a_failed_explain_leaves_nothing_and_keeps_an_earlier_folder(digits_run, run_cli, capsys, tmp_path,
                                                                     monkeypatch):
    import cnnkit.viz.report as report
    from cnnkit.errors import OutputError

    out = tmp_path / "f"
    code, _, err = run_cli(["explain", "filters", str(digits_run), "--out", str(out)], capsys)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    seen = []

    def fail(page, **kwargs):  # the page, written last, fails as a full disk would
        seen.append(sorted(p.name for p in page.parent.iterdir()))
        raise OutputError("cannot write the report (simulated)")

    monkeypatch.setattr(report, "write_report", fail)
    for args, folder in ((["filters", "--max-filters", "4"], out), (["maps", "--layer", "features.1", "--count", "1"],
                                                                     tmp_path / "m")):
        code, _, err = run_cli(["explain", args[0], str(digits_run), *args[1:], "--out", str(folder)], capsys)
        assert code == 2 and "simulated" in err and len(err.strip().splitlines()) == 1
    assert any(name.startswith("filters-") for name in seen[0]) and "images.png" in seen[1]  # figures came first
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
