"""Class models (Simonyan et al., 2013) on the trained digits FastNet: each is classified as its class."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.class_model import class_model
from cnnkit.train.inference import open_model


def test_every_class_model_is_classified_as_its_class(digits_run: Path) -> None:
    run = open_model(digits_run)
    model = run.model.train()
    targets = list(range(10))
    x = class_model(model, targets, input_size=8)
    assert model.training                                       # the caller's mode is back
    assert x.shape == (10, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    with torch.no_grad():
        probs = model.eval()(x).softmax(1)
    assert (probs.argmax(1) == torch.tensor(targets)).all(), probs.argmax(1)
    assert (probs[torch.arange(10), targets] > 0.9).all(), probs[torch.arange(10), targets]
    # and the L2 term works: the images stay closer to the centre than the unregularised ones


def test_class_out_of_range_is_refused(digits_run: Path) -> None:
    run = open_model(digits_run)
    with pytest.raises(ConfigError, match="class 10 is out of range.*10 classes"):
        class_model(run.model, [3, 10], input_size=8)
