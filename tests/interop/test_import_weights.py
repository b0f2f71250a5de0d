"""import_weights: exact round trips, wrapper prefixes, mismatches named, strict and non-strict, inference."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cnnkit.errors import ConfigError, OutputError, WeightsError
from cnnkit.interop.import_weights import check_run_name, default_run_name, import_weights, read_classes
from cnnkit.layers import Normalize
from cnnkit.models import create_model
from cnnkit.runs import load_run

MNIST = {"data": "mnist"}  # classes, channels, size and statistics; no image is read


def _lenet(**kw: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return create_model("lenet5", **kw).state_dict()


def _assert_loaded(run_dir: Path, state: dict[str, torch.Tensor]) -> None:
    loaded = load_run(run_dir).network.state_dict()
    assert sorted(loaded) == sorted(state)
    for key, value in state.items():
        assert loaded[key].dtype == torch.float32 and torch.equal(loaded[key], value.float()), key


def _only_run_left(parent: Path, *expected: str) -> None:
    assert sorted(p.name for p in parent.iterdir()) == sorted(expected), "a partial directory was left"


@pytest.mark.parametrize(
    ("name", "save"),
    [
        ("w.safetensors", save_file),
        ("w.pt", torch.save),
        ("w.pth", lambda sd, p: torch.save(sd, p, _use_new_zipfile_serialization=False)),
    ],
)
def test_round_trip_is_exact(tmp_path: Path, name: str, save: Callable) -> None:
    state = _lenet()
    save(state, tmp_path / name)
    result = import_weights("lenet5", tmp_path / name, tmp_path / "run", **MNIST)
    _assert_loaded(tmp_path / "run", state)
    info = load_run(tmp_path / "run").info
    assert info.architecture == "lenet5" and info.kwargs == {"num_classes": 10, "in_chans": 1, "input_size": 28}
    assert info.classes == list("0123456789") and info.mean == [0.1307] and info.std == [0.3081]
    assert info.dataset == "mnist" and info.training["imported_from"] == str((tmp_path / name).resolve())
    assert result.report.complete and len(result.report.loaded) == 10 and result.parameters == 61_706
    assert result.run.path == tmp_path / "run"
    _only_run_left(tmp_path, name, "run")


def _sequential(sd: dict) -> dict:
    net = create_model("lenet5")
    net.load_state_dict(sd)
    return torch.nn.Sequential(Normalize([0.5], [0.5]), net).state_dict()  # what a cnnkit run holds in memory


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 9},
        lambda sd: {"model": {f"_orig_mod.{k}": v for k, v in sd.items()}},
        lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {}},
        _sequential,
    ],
    ids=["ddp", "state_dict-ddp", "model-compiled", "model_state_dict", "cnnkit-sequential"],
)
def test_wrappers_and_prefixes_are_removed(tmp_path: Path, wrap: Callable) -> None:
    state = _lenet()
    torch.save(wrap(state), tmp_path / "ckpt.pt")
    import_weights("lenet5", tmp_path / "ckpt.pt", tmp_path / "run", **MNIST)
    _assert_loaded(tmp_path / "run", state)


def _damaged(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    damaged = dict(state)
    del damaged["classifier.7.bias"]
    damaged["extra.weight"] = torch.zeros(3, 3)
    damaged["features.0.weight"] = torch.zeros(6, 1, 3, 3)
    return damaged


def test_mismatches_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    save_file(_damaged(_lenet()), tmp_path / "w.safetensors")
    with pytest.raises(WeightsError) as info:
        import_weights("lenet5", tmp_path / "w.safetensors", tmp_path / "runs" / "run", **MNIST)
    message = str(info.value)
    assert "\n" not in message
    assert "missing 1: classifier.7.bias (10)" in message
    assert "unexpected 1: extra.weight (3x3)" in message
    assert "wrong shape 1: features.0.weight (file 6x1x3x3, model 6x1x5x5)" in message
    assert "--non-strict" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_long_lists_are_cut_short(tmp_path: Path) -> None:
    state = {**_lenet(), **{f"extra.{i}": torch.zeros(1) for i in range(7)}}
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(WeightsError, match=r"unexpected 7: extra.0 \(1\), extra.1 \(1\), extra.2 \(1\) and 4 more;"):
        import_weights("lenet5", tmp_path / "w.pt", tmp_path / "run", **MNIST)


def test_non_strict_loads_what_fits_and_warns(tmp_path: Path) -> None:
    state = _lenet()
    save_file(_damaged(state), tmp_path / "w.safetensors")
    rng = torch.random.get_rng_state()
    with pytest.warns(UserWarning, match=r"loaded 8 of 10 tensors of lenet5; missing 1: classifier.7.bias"):
        result = import_weights("lenet5", tmp_path / "w.safetensors", tmp_path / "run", strict=False, seed=3, **MNIST)
    assert torch.equal(torch.random.get_rng_state(), rng), "the import changed the global random state"
    loaded = load_run(tmp_path / "run").network.state_dict()
    torch.manual_seed(3)
    fresh = create_model("lenet5").state_dict()
    for key in state:
        expected = fresh[key] if key in ("classifier.7.bias", "features.0.weight") else state[key]
        assert torch.equal(loaded[key], expected), key
    assert len(result.report.loaded) == 8
    assert result.run.info.training["not_loaded"] == ["classifier.7.bias", "features.0.weight"]


def test_non_strict_still_needs_one_fitting_tensor(tmp_path: Path) -> None:
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "w.pt")
    with pytest.raises(WeightsError, match="no tensor in .* fits lenet5"):
        import_weights("lenet5", tmp_path / "w.pt", tmp_path / "run", strict=False, **MNIST)
    assert not (tmp_path / "run").exists()


def test_float_dtypes_are_cast_and_others_refused(tmp_path: Path) -> None:
    state = _lenet()
    mixed = {k: v.double() if "weight" in k else v.bfloat16() for k, v in state.items()}
    torch.save(mixed, tmp_path / "mixed.pt")
    import_weights("lenet5", tmp_path / "mixed.pt", tmp_path / "run", **MNIST)
    _assert_loaded(tmp_path / "run", {k: v.float() for k, v in mixed.items()})

    odd = {**state, "features.0.bias": state["features.0.bias"].to(torch.complex64),
           "features.3.bias": torch.arange(16), "classifier.1.bias": 0.5}  # fmt: skip
    torch.save(odd, tmp_path / "odd.pt")
    with pytest.raises(WeightsError) as info:
        import_weights("lenet5", tmp_path / "odd.pt", tmp_path / "run2", **MNIST)
    message = str(info.value)
    assert "unusable 3:" in message and "features.0.bias (complex64, model float32)" in message
    assert "features.3.bias (int64, model float32)" in message and "classifier.1.bias (float, not a tensor)" in message


def test_classes_and_channels_are_read_from_the_file(tmp_path: Path) -> None:
    save_file(_lenet(num_classes=7, in_chans=3), tmp_path / "w.safetensors")
    with pytest.warns(UserWarning, match="unnormalised"):
        result = import_weights("lenet5", tmp_path / "w.safetensors", tmp_path / "run")
    info = result.run.info
    assert info.kwargs == {"num_classes": 7, "in_chans": 3, "input_size": 28}
    assert info.classes == [str(i) for i in range(7)] and info.in_chans == 3
    assert info.mean == [0.0] * 3 and info.std == [1.0] * 3 and info.dataset is None


def test_options_set_classes_statistics_and_kwargs(tmp_path: Path) -> None:
    save_file(_lenet(num_classes=3, in_chans=3, input_size=32), tmp_path / "w.safetensors")
    (tmp_path / "names.txt").write_text("cat\n\ndog\nbird\n", encoding="utf-8")
    result = import_weights(
        "lenet5", tmp_path / "w.safetensors", tmp_path / "run", classes=read_classes(tmp_path / "names.txt"),
        input_size=32, mean=[0.485, 0.456, 0.406], std=[0.5], model_kwargs={"dropout": 0.25},
    )  # fmt: skip
    info = load_run(tmp_path / "run").info
    assert info.classes == ["cat", "dog", "bird"] and info.input_size == 32
    assert info.mean == [0.485, 0.456, 0.406] and info.std == [0.5, 0.5, 0.5]
    assert info.kwargs == {"dropout": 0.25, "num_classes": 3, "in_chans": 3, "input_size": 32}
    assert result.run.info == info


def test_a_dataset_of_another_size(tmp_path: Path) -> None:
    torch.save(_lenet(input_size=8), tmp_path / "w.pt")
    import_weights("lenet5", tmp_path / "w.pt", tmp_path / "run", data="digits")
    info = load_run(tmp_path / "run").info
    assert info.input_size == 8 and info.dataset == "digits" and info.mean == [0.305]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"data": "mnist", "num_classes": 10}, ConfigError, "--data mnist sets .*; drop --num-classes"),
        ({"data": "mnist", "input_size": 32}, ConfigError, "mnist images are 28x28; drop --input-size"),
        ({"num_classes": 10, "model_kwargs": {"num_classes": 10}}, ConfigError, "num_classes is given twice"),
        ({"classes": ["a", "b"], "num_classes": 3}, ConfigError, "2 class names but num_classes=3"),
        ({"in_chans": 0}, ConfigError, r"in_chans \(--in-chans\) must be an integer in \[1, 64\], got 0"),
        ({"num_classes": 10**10}, ConfigError, r"num_classes \(--num-classes\) must be an integer in \[1, 100,000\]"),
        ({"input_size": 10**9}, ConfigError, r"input_size \(--input-size\) must be an integer in \[1, 4,096\]"),
        ({"model_kwargs": {"in_chans": 65}}, ConfigError, r"in_chans \(--in-chans\) must be an integer in \[1, 64\]"),
        ({"input_size": True}, ConfigError, "input_size .* must be an integer"),
        ({"input_size": 2}, ConfigError, "lenet5 needs inputs of at least 4x4 pixels"),
        ({"input_size": 4096}, ConfigError, "parameters, more than the 2,000,000,000 a run can hold"),
        ({"mean": [0.1, 0.2]}, ConfigError, r"give one number per channel \(1\)"),
        ({"mean": [float("nan")]}, ConfigError, "give one finite number per channel"),
        ({"std": [float("inf")]}, ConfigError, "give one finite number per channel"),
        ({"mean": [123.675]}, ConfigError, r"lie in \[0, 1\]; for statistics of 0..255 pixels divide by 255"),
        ({"std": [0.0]}, ConfigError, "every std must be positive"),
        ({"std": [-1.0]}, ConfigError, "every std must be positive"),
        ({"classes": [str(i) for i in range(5)]}, WeightsError, r"classifier.7.weight \(file 10x84, model 5x84\)"),
        ({"model_kwargs": {"depth": 3}}, ConfigError, "does not take these options"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict, error: type, message: str) -> None:
    save_file(_lenet(), tmp_path / "w.safetensors")
    with pytest.raises(error, match=message):
        import_weights("lenet5", tmp_path / "w.safetensors", tmp_path / "run", **options)
    _only_run_left(tmp_path, "w.safetensors")


def test_an_existing_run_is_never_overwritten(tmp_path: Path) -> None:
    save_file(_lenet(), tmp_path / "w.safetensors")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="already exists; choose another --out"):
        import_weights("lenet5", tmp_path / "w.safetensors", tmp_path / "run", **MNIST)
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["keep.txt"]


def test_read_classes(tmp_path: Path) -> None:
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(ConfigError, match="'a' more than once"):
        read_classes(tmp_path / "dup.txt")
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(ConfigError, match="lists no class names"):
        read_classes(tmp_path / "blank.txt")
    with pytest.raises(ConfigError, match="class names file .* does not exist"):
        read_classes(tmp_path / "missing.txt")
    (tmp_path / "long.txt").write_text("a\n" + "b" * 201 + "\n")
    with pytest.raises(ConfigError, match="longer than 200 characters"):
        read_classes(tmp_path / "long.txt")


def _nan_row(w: torch.Tensor) -> torch.Tensor:
    return w.index_fill(0, torch.tensor([0]), float("nan"))  # 1 of 16 filters: 150 values


def _one_inf(w: torch.Tensor) -> torch.Tensor:
    w = w.clone()
    w.view(-1)[0] = float("inf")
    return w


def _beyond_float32(w: torch.Tensor) -> torch.Tensor:
    w = w.double()  # finite in float64, infinite once cast to the model's float32
    w.view(-1)[:2] = 1e300
    return w


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_nan_row, r"NaN or infinite values in tensor 'features.3.weight' \(150 of 2,400 values\)"),
        (_one_inf, r"NaN or infinite values in tensor 'features.3.weight' \(1 of 2,400 values\)"),
        (_beyond_float32, r"values too large for float32 in tensor 'features.3.weight' \(2 of 2,400\)"),
    ],
    ids=["nan", "inf", "too-large-for-float32"],
)
def test_non_finite_weights_are_refused_by_tensor_name(tmp_path: Path, damage: Callable, message: str) -> None:
    state = _lenet()
    torch.save({**state, "features.3.weight": damage(state["features.3.weight"])}, tmp_path / "w.pt")
    # The reference: the file really holds what the test claims (plain torch.load, not cnnkit's reader).
    read = torch.load(tmp_path / "w.pt", weights_only=True)["features.3.weight"]
    assert not torch.isfinite(read.float()).all()
    for strict in (True, False):  # load_run would refuse the run, so even --non-strict cannot write it
        with pytest.raises(WeightsError, match=message) as info:
            import_weights("lenet5", tmp_path / "w.pt", tmp_path / "run", strict=strict, **MNIST)
        assert "check the disk" not in str(info.value) and ".partial" not in str(info.value)
    _only_run_left(tmp_path, "w.pt")


def _googlenet(**kw) -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    return create_model("googlenet", **kw).state_dict()


def test_googlenet_weights_without_aux_heads_name_the_option(tmp_path: Path) -> None:
    """torchvision-style GoogLeNet weights hold no aux1/aux2: the error says which --model-kwargs fits."""
    state = _googlenet(aux=False)
    assert not any(k.startswith(("aux1.", "aux2.")) for k in state)
    torch.save(state, tmp_path / "g.pt")
    with pytest.raises(WeightsError, match=r"missing 20: aux1\..*no auxiliary classifiers.*--model-kwargs '\{\"aux\": false\}'"):
        import_weights("googlenet", tmp_path / "g.pt", tmp_path / "run", mean=[0.5], std=[0.5])
    import_weights("googlenet", tmp_path / "g.pt", tmp_path / "run", model_kwargs={"aux": False}, mean=[0.5], std=[0.5])
    reference = torch.load(tmp_path / "g.pt", weights_only=True)
    loaded = load_run(tmp_path / "run").network.state_dict()
    assert loaded.keys() == reference.keys() == state.keys()
    assert all(torch.equal(loaded[k], reference[k]) and torch.equal(loaded[k], state[k]) for k in state)


def test_other_mismatches_get_no_aux_hint(tmp_path: Path) -> None:
    state = _googlenet(aux=False)
    del state["fc.bias"]
    torch.save(state, tmp_path / "g.pt")
    with pytest.raises(WeightsError) as info:
        import_weights("googlenet", tmp_path / "g.pt", tmp_path / "run", mean=[0.5], std=[0.5])
    assert "aux" in str(info.value) and "--model-kwargs" not in str(info.value) and "--non-strict" in str(info.value)


@pytest.mark.parametrize(
    ("run", "message"),
    [("x" * 300, "at most 255 bytes"), ("é" * 128, "at most 255 bytes"), (".hidden", "plain directory name")],
    ids=["300-chars", "256-bytes-utf8", "hidden"],
)
def test_a_run_name_the_os_would_refuse_is_one_config_error(tmp_path: Path, run: str, message: str) -> None:
    torch.save(_lenet(), tmp_path / "w.pt")
    with pytest.raises(ConfigError, match=message):
        import_weights("lenet5", tmp_path / "w.pt", tmp_path / run, **MNIST)
    _only_run_left(tmp_path, "w.pt")


def test_run_names() -> None:
    assert check_run_name("a" * 255) == "a" * 255
    for bad in ("", ".hidden", "a/b", "b" * 256, "é" * 128):
        with pytest.raises(ConfigError, match="--name must be a plain directory name"):
            check_run_name(bad)


def test_default_run_names_are_numbered_when_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.strftime", lambda _format: "20250101-120000")
    assert default_run_name("lenet5", tmp_path) == "lenet5-imported-20250101-120000"
    (tmp_path / "lenet5-imported-20250101-120000").mkdir()
    (tmp_path / ".lenet5-imported-20250101-120000-2.partial").mkdir()
    assert default_run_name("lenet5", tmp_path) == "lenet5-imported-20250101-120000-3"
