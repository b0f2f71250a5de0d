"""Class models (Simonyan et al., 2013) on the trained digits FastNet: classified as their class, and scored
above the real images of that class."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.explain.synthesis.class_models import class_model, class_model_config
from cnnkit.runs import dataset_for, open_model


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
    # What the objective promises, for every class c: S_c of its class model beats S_c of 90% of the
    # real images of class c, and beats S_c of every other class model (each of which maximised
    # another score). Both hold on every class in float32 and bf16 alike.
    for c in targets:
        assert logits[c, c] > real[data.labels == c, c].quantile(0.9), c
        others = torch.cat([logits[:c, c], logits[c + 1:, c]])
        assert (logits[c, c] > others).all(), c
    # The softmax is not what is maximised: on this 3-epoch 8x8 FastNet the logits of '8' and '9'
    # drag '6' and '5' up with them (in float32 both lose the softmax, in bf16 neither or one), so
    # only most class models must be read as their class; a broken ascent gets about one in ten.
    assert (logits.argmax(1) == torch.tensor(targets)).sum() >= 7, logits.argmax(1)


def test_class_out_of_range_is_refused(digits_run: Path) -> None:
    run = open_model(digits_run)
    with pytest.raises(ConfigError, match="class 10 is out of range.*10 classes"):
        class_model(run.model, [3, 10], input_size=8)
