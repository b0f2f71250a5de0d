"""TrainConfig: range checks with a fix in the message, and an exact JSON round trip."""

from __future__ import annotations

import re

import pytest

from cnnkit.errors import ConfigError
from cnnkit.train.config import TrainConfig
from cnnkit.train.recipes import RECIPES, apply_recipe


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs (--epochs) must be an integer in [1, 10,000]"),
        ("epochs", 10**20, "epochs (--epochs) must be an integer in [1, 10,000]"),
        ("epochs", 2.5, "epochs (--epochs) must be an integer"),
        ("batch_size", 0, "batch_size (--batch-size) must be an integer in [1, 65,536]"),
        ("lr", 0.0, "lr (--lr) must be a number in (0, 10]"),
        ("lr", -1.0, "lr (--lr) must be a number in (0, 10]"),
        ("lr", 1e308, "lr (--lr) must be a number in (0, 10]"),
        ("lr", float("nan"), "lr (--lr) must be a number in (0, 10]"),
        ("weight_decay", float("nan"), "weight_decay (--weight-decay) must be a finite number in [0, 1]"),
        ("threads", 100_000, "threads (--threads) must be an integer in [1, 256]"),
        ("seed", 2**64, "seed (--seed) must be an integer in [0, 4,294,967,295]"),
        ("seed", True, "seed (--seed) must be an integer"),
        ("optimizer", "adam", "must be one of sgd, adamw"),
        ("schedule", "poly", "must be one of constant, step, cosine, onecycle"),
        ("label_smoothing", 1.0, "label_smoothing (--label-smoothing) must be a finite number in"),
        ("dropout", 1.5, "dropout (--dropout) must be a finite number in"),
        ("clip_grad_norm", 0.0, "clip_grad_norm (--clip-grad-norm) must be a finite number in (0, "),
        ("warmup_epochs", 10.0, "warmup_epochs (--warmup-epochs) must be a finite number in"),
        ("name", "../x", "plain directory name"),
        ("name", "x" * 300, "at most 255 bytes"),
        ("model", 3, "model (--model) must be a non-empty string"),
        ("data", ["mnist"], "data (--data) must be a non-empty string"),
        ("out", 7, "out (--out) must be a non-empty string"),
        ("model_kwargs", [1], "model_kwargs (--config's model_kwargs) must be an object"),
        ("model_kwargs", {"a": [[[[[[[[[[1]]]]]]]]]]}, "nested at most 8 levels"),
    ],
)
def test_out_of_range_values_raise_config_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
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
