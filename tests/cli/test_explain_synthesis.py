"""``cnnkit explain maximize | invert | classes | dream``: files written, numbers printed, bad input refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def test_maximize_writes_a_page_and_the_activations(digits_run: Path, tmp_path: Path, run_cli, capsys) -> None:
    code, out, err = run_cli(["explain", "maximize", str(digits_run), "--layer", "features.2", "--units", "0,3",
                              "--steps", "5", "--out", str(tmp_path / "m"), "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "m" / "index.html").is_file() and (tmp_path / "m" / "maximize-features.2.png").is_file()
    assert "activation reached: 0:" in out


def test_invert_classes_and_dream_run(digits_run: Path, tmp_path: Path, run_cli, capsys) -> None:
    code, out, err = run_cli(["explain", "invert", str(digits_run), "--layer", "features.0,features.6",
                              "--count", "2", "--steps", "5", "--out", str(tmp_path / "i"), "-q"], capsys)
    assert code == 0, err
    assert "features.0:" in out and (tmp_path / "i" / "invert.png").is_file()
    code, out, err = run_cli(["explain", "classes", str(digits_run), "--classes", "1,2", "--steps", "5",
                              "--out", str(tmp_path / "c"), "-q"], capsys)
    assert code == 0, err
    assert "confidence:" in out and (tmp_path / "c" / "classes.png").is_file()
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((15, 11)) * 255).astype(np.uint8)).save(photo)
    code, out, err = run_cli(["explain", "dream", str(digits_run), "--image", str(photo), "--layer", "features.2",
                              "--octaves", "2", "--steps", "2", "--out", str(tmp_path / "d"), "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "d" / "dream-0.png").is_file()
    assert Image.open(tmp_path / "d" / "dream-0.png").size[0] > 0


@pytest.mark.parametrize(("args", "message"), [
    (["maximize", "--layer", "nope"], "valid layers: features"),
    (["maximize", "--layer", "features.2", "--units", "99"], "unit 99 is out of range"),
    (["maximize", "--layer", "features.2", "--units", "x"], "comma-separated integers"),
    (["classes", "--classes", "3,10"], "class 10 is out of range"),
    (["invert", "--layer", "features.0,bad"], "no layer 'bad'"),
    (["dream", "--image", "NOTAFILE", "--layer", "features.2"], "does not exist"),
    (["dream", "--image", "BADIMAGE", "--target", "3"], "cannot decode"),
    (["dream", "--image", "BADIMAGE"], "--layer NAME or --target CLASS"),
])
def test_bad_input_is_one_line_and_exit_2(digits_run: Path, tmp_path: Path, run_cli, capsys,
                                          args: list[str], message: str) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    args = [str(bad) if a == "BADIMAGE" else str(tmp_path / "missing.png") if a == "NOTAFILE" else a for a in args]
    code, out, err = run_cli(["explain", args[0], str(digits_run), *args[1:], "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1, err  # no blank progress line before it
    assert not (tmp_path / "o" / "index.html").exists()


def test_maximize_tiles_say_what_the_value_is(digits_run: Path, tmp_path: Path, run_cli, capsys, monkeypatch) -> None:
    import cnnkit.viz.synthesis as synthesis

    captions: list = []
    plot = synthesis.plot_synthesised
    monkeypatch.setattr(synthesis, "plot_synthesised", lambda x, c, *a, **k: (captions.append(list(c)),
                                                                            plot(x, c, *a, **k))[1])
    code, out, err = run_cli(["explain", "maximize", str(digits_run), "--layer", "features.2", "--units", "1,layer",
                              "--steps", "3", "--out", str(tmp_path / "m"), "-q"], capsys)
    assert code == 0, err
    assert captions[0][0].startswith("unit 1\nmean activation ") and captions[0][1].startswith("layer\nmean square ")
    assert "mean activation over its feature map" in (tmp_path / "m" / "index.html").read_text()
    assert "mean activation reached: 1:" in out and "layer mean square:" in out
