"""LeNet-5 as published (lenet5_1998) against the paper's numbers and brute-force formulas."""

from __future__ import annotations

import math

import pytest
import torch

from cnnkit.errors import ConfigError
from cnnkit.models import create_model
from cnnkit.models.lenet1998 import C3_TABLE, DIGIT_BITMAPS, scaled_tanh
from cnnkit.train.task import ClassificationLoss, task_for


def test_trainable_parameters_are_the_papers_60000_layer_by_layer() -> None:
    model = create_model("lenet5_1998")
    per_layer = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    # C1 6*(25+1); S2 6*2; C3 60 connections*25 + 16; S4 16*2; C5 120*(16*25+1); F6 84*(120+1)
    assert per_layer == {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164, "rbf": 0}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 60_000


def test_c3_connections_are_table_1_of_the_paper() -> None:
    # Table I, read column by column: an X where C3 map (column) takes S2 map (row).
    table_1 = [
        "X   XXX  XXXX XX",
        "XX   XXX  XXXX X",
        "XXX   XXX  X XXX",
        " XXX  XXXX  X XX",
        "  XXX  XXXX XX X",
        "   XXX  XXXX XXX",
    ]
    expected = torch.tensor([[row[o] == "X" for row in table_1] for o in range(16)])
    model = create_model("lenet5_1998")
    assert torch.equal(model.c3.mask, expected)
    assert tuple(tuple(i for i in range(6) if expected[o, i]) for o in range(16)) == C3_TABLE
    # The effective kernel is exactly zero where the table has no connection.
    full = model.c3.full_weight()
    assert (full[~expected] == 0).all() and (full[expected] != 0).all()


def test_forward_is_minus_the_brute_force_rbf_penalties() -> None:
    torch.manual_seed(0)
    model = create_model("lenet5_1998", input_size=28).eval()
    x = torch.rand(3, 1, 28, 28)
    h = torch.nn.functional.pad(x, (2, 2, 2, 2))                              # the paper's 32x32
    h = scaled_tanh(model.c1(h))
    h = scaled_tanh(4 * torch.nn.functional.avg_pool2d(h, 2) * model.s2.coefficient[:, None, None]
                    + model.s2.bias[:, None, None])
    kernels = torch.zeros(16, 6, 5, 5)
    k = 0
    for o, inputs in enumerate(C3_TABLE):
        for i in inputs:
            kernels[o, i] = model.c3.weight[k]
            k += 1
    h = scaled_tanh(torch.nn.functional.conv2d(h, kernels, model.c3.bias))
    h = scaled_tanh(4 * torch.nn.functional.avg_pool2d(h, 2) * model.s4.coefficient[:, None, None]
                    + model.s4.bias[:, None, None])
    h = scaled_tanh(model.f6(scaled_tanh(model.c5(h)).flatten(1)))            # (3, 84)
    codes = torch.tensor([[1.0 if c == "#" else -1.0 for c in art.replace(" ", "")] for art in DIGIT_BITMAPS])
    hs, cs = h.tolist(), codes.tolist()
    y = torch.tensor([[sum((hs[n][j] - cs[i][j]) ** 2 for j in range(84)) for i in range(10)] for n in range(3)])
    torch.testing.assert_close(model(x), -y, rtol=1e-5, atol=1e-4)
    assert scaled_tanh(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=2e-4)  # f(1) = 1 by design


def test_paper_loss_is_equation_9() -> None:
    torch.manual_seed(1)
    model = create_model("lenet5_1998")
    output = -torch.rand(4, 10) * 50                                         # -y, penalties up to 50
    target = torch.tensor([0, 3, 9, 3])
    j = model.loss_j
    brute = sum(-output[p, target[p]].item()
                + math.log(math.exp(-j) + sum(math.exp(output[p, i].item()) for i in range(10)))
                for p in range(4)) / 4
    assert model.paper_loss(output, target).item() == pytest.approx(brute, rel=1e-6)
    assert model.paper_loss(output, target).item() >= 0                       # the paper: E is positive


def test_prototypes_are_fixed_7x12_bitmaps() -> None:
    model = create_model("lenet5_1998", num_classes=7)
    prototypes = model.rbf.prototypes
    assert prototypes.shape == (7, 84) and not prototypes.requires_grad
    assert set(prototypes.unique().tolist()) == {-1.0, 1.0}
    assert all(p is not prototypes for p in model.parameters())
    assert "rbf.prototypes" in model.state_dict()
    assert all(len(art.split()) == 12 and {len(row) for row in art.split()} == {7} for art in DIGIT_BITMAPS)
    assert len(set(DIGIT_BITMAPS)) == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [({"input_size": 64}, "32x32.*28x28"), ({"in_chans": 0}, "in_chans >= 1"), ({"num_classes": 11}, "at most 10")],
)
def test_unsupported_configurations_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        create_model("lenet5_1998", **kwargs)


@pytest.fixture
def one_thread():
    """Tiny tensors on a shared machine: one thread is faster than many fighting for cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_uses_the_paper_loss_and_it_decreases(one_thread: None) -> None:
    torch.manual_seed(0)
    model = create_model("lenet5_1998", input_size=28)
    task = task_for(model)
    assert task.criterion == model.paper_loss
    assert task_for(create_model("lenet5")) == ClassificationLoss()
    with pytest.raises(ConfigError, match="label smoothing"):
        task_for(model, label_smoothing=0.1)
    # A tiny synthetic batch in the paper's input scale (background -0.1, ink 1.175):
    # the class is the row of a bright bar.
    x = torch.full((32, 1, 28, 28), -0.1)
    y = torch.arange(32) % 10
    x[torch.arange(32), 0, y * 2 + 4, 4:24] = 1.175
    x += 0.05 * torch.randn_like(x)
    # Adam stands in for the paper's stochastic diagonal Levenberg-Marquardt: both scale each
    # parameter's step, which the small +-2.4/fan-in initial weights need (plain SGD crawls).
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = task.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert torch.equal(model.rbf.prototypes[:1], create_model("lenet5_1998").rbf.prototypes[:1])  # untouched


def test_colour_input_widens_only_c1() -> None:
    from cnnkit.models import create_model

    grey, colour = create_model("lenet5_1998"), create_model("lenet5_1998", in_chans=3)
    count = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)  # noqa: E731
    assert count(colour) - count(grey) == 6 * 25 * 2  # two more input maps for each of C1's six 5x5 kernels
