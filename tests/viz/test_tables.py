"""Tests for cnnkit.viz.tables: the report's tables as rows of strings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnkit.viz import confusion_table, epoch_table, format_duration, key_value_table, per_class_table


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3.14159, "3.1 s"), (42.4, "42 s"), (192, "3 min 12 s"), (3725, "1 h 02 min"), (float("nan"), "–")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_key_value_table_formats_values():
    table = key_value_table(
        {"lr": 0.1, "weight_decay": 5e-4, "augment": ["crop", "flip"], "resume": None,
         "channels_last": True, "out": Path("runs/a"), "epochs": 10},
    )
    assert table[0] == ("setting", "value")
    assert dict(table[1:]) == {
        "lr": "0.1", "weight_decay": "0.0005", "augment": '["crop", "flip"]', "resume": "–",
        "channels_last": "true", "out": "runs/a", "epochs": "10",
    }


def test_key_value_table_from_pairs_with_a_header():
    table = key_value_table([("total", "3 min")], header=("what", "time"))
    assert table == (("what", "time"), ("total", "3 min"))


def test_epoch_table_dashes_missing_values_and_drops_absent_columns():
    metrics = [
        {"epoch": 1, "train_loss": 0.5, "train_acc": 0.8, "seconds": 12.0, "images_per_s": 5012.4},
        {"epoch": 2, "train_loss": 0.25, "train_acc": 0.9, "test_acc": 0.875, "seconds": 11.0,
         "images_per_s": 5100.0},
    ]
    table = epoch_table(metrics)
    assert table[0] == ("epoch", "train loss", "train acc", "test acc", "time", "images/s")
    assert table[1] == ("1", "0.5000", "80.00%", "–", "12 s", "5,012")
    assert table[2] == ("2", "0.2500", "90.00%", "87.50%", "11 s", "5,100")


def test_per_class_table_f1_is_the_harmonic_mean():
    table = per_class_table(["cat", "dog"], [0.5, 0.0], [1.0, 0.0], [10, 0])
    assert table[0] == ("class", "precision", "recall", "F1", "support")
    assert table[1] == ("cat", "50.00%", "100.00%", "66.67%", "10")
    assert table[2] == ("dog", "0.00%", "0.00%", "0.00%", "0")


def test_per_class_table_rejects_ragged_input():
    with pytest.raises(ValueError, match="equal lengths"):
        per_class_table(["a", "b"], [1.0], [1.0, 1.0], [1, 1])


def test_confusion_table_reads_rows_as_true_classes():
    # true a: 8 right, 2 called b; true b: 5 right, 5 called a
    matrix = np.array([[8, 2], [5, 5]])
    table = confusion_table(matrix, ["a", "b"])
    # precision a = 8 / (8 + 5), recall a = 8 / 10; precision b = 5 / 7, recall b = 5 / 10
    assert table[1][:3] == ("a", f"{8 / 13:.2%}", "80.00%")
    assert table[2][:3] == ("b", f"{5 / 7:.2%}", "50.00%")
    assert table[1][4] == "10" and table[2][4] == "10"
