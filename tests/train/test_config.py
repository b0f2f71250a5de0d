"""TrainConfig: range checks with a fix in the message, and an exact JSON round trip."""

from __future__ import annotations

import pytest

from cnnkit.errors import ConfigError
from cnnkit.train.config import TrainConfig
from cnnkit.train.recipes import RECIPES, apply_recipe


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs must be an integer >= 1"),
        ("batch_size", 0, "batch_size must be an integer >= 1"),
        ("lr", 0.0, "lr must be > 0"),
        ("lr", -1.0, "lr must be > 0"),
        ("optimizer", "adam", "choose one of sgd, adamw"),
        ("schedule", "poly", "choose one of constant, step, cosine, onecycle"),
        ("label_smoothing", 1.0, "label_smoothing must be in"),
        ("dropout", 1.5, "dropout must be in"),
        ("warmup_epochs", 10.0, "warmup_epochs must be in"),
        ("name", "../x", "plain directory name"),
    ],
)
def test_out_of_range_values_raise_config_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{field: value})


def test_json_round_trip_is_exact(tmp_path) -> None:
    config = TrainConfig(model="fastnet", epochs=3, lr=0.123, model_kwargs={"widths": [8, 16]}, dropout=0.2)
    path = tmp_path / "config.json"
    path.write_text(config.to_json())
    assert TrainConfig.from_file(path) == config


def test_unknown_keys_and_bad_files_raise(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown training option"):
        TrainConfig.from_dict({"epochz": 3})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.from_file(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_file(tmp_path / "missing.json")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_a_valid_config(name: str) -> None:
    config = TrainConfig.from_dict(apply_recipe(name))
    assert config.recipe == name


def test_unknown_recipe_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'fast'"):
        apply_recipe("fats")
