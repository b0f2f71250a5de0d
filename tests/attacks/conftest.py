"""Shared fixtures of the attack tests: the digits run's model and a batch of its test images."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def digits_batch(digits_run):
    """(model, x, y): the trained 8x8 digits FastNet in eval mode and 48 test images in [0, 1]."""
    from cnnkit.runs import open_model, sample_images

    run = open_model(str(digits_run), device=torch.device("cpu"))
    x, y = sample_images(run, 48, seed=1)
    return run.model, x, y


@pytest.fixture
def one_thread():
    """One intra-op thread: these tiny batches gain nothing from more, and lose a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
