"""Class models (Simonyan et al., 2013) on the trained digits FastNet: classified as their class, and scored
above the real images of that class."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.class_model import class_model, class_model_config
from cnnkit.train.inference import dataset_for, open_model


def test_class_models_score_their_class_above_real_images(digits_run: Path) -> None:
    run = open_model(digits_run)
    model = run.model.train()
    targets = list(range(10))
    # the default config at half its steps, to keep the test short
    x = class_model(model, targets, input_size=8, config=replace(class_model_config(8), steps=150))
    assert model.training                                       # the caller's mode is back
    assert x.shape == (10, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    model.eval()
    data = dataset_for(run, split="test")
    with torch.no_grad():
        logits = model(x)
        real = model(data.images.float() / 255)
    # S_c of each class model beats S_c of the median real image of class c
    for c in targets:
        assert logits[c, c] > real[data.labels == c, c].median(), c
    # and the network reads (nearly) every class model as its class; on this 8x8 FastNet the
    # logit of '8' drags '1' up with it, so one class may lose the softmax (see the report)
    assert (logits.argmax(1) == torch.tensor(targets)).sum() >= 9, logits.argmax(1)


def test_class_out_of_range_is_refused(digits_run: Path) -> None:
    run = open_model(digits_run)
    with pytest.raises(ConfigError, match="class 10 is out of range.*10 classes"):
        class_model(run.model, [3, 10], input_size=8)
