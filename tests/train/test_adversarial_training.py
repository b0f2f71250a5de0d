"""Adversarial training (train/adversarial.py): FGSM's mixed objective (Goodfellow et al., 2015) and
PGD training (Madry et al., 2018), checked against hand-written steps, the eps-ball, robustness to
FGSM, and exact resume."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

import cnnkit.train.task as task
import cnnkit.train.trainer as trainer
from cnnkit.attacks import FGSM
from cnnkit.data import load_dataset
from cnnkit.errors import ConfigError, TrainingInterrupted
from cnnkit.layers import Normalize
from cnnkit.models import create_model
from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit, resume
from cnnkit.train.adversarial import AdversarialTraining
from cnnkit.runs import dataset_for, open_model


@pytest.fixture
def no_report(monkeypatch) -> None:
    """The report's figures cost seconds and are not what these tests check."""
    monkeypatch.setattr(task, "build_report", lambda *args, **kwargs: None)


# --- configuration --------------------------------------------------------------------------

def test_config_round_trips_and_resolves_the_papers_defaults(tmp_path) -> None:
    config = TrainConfig(adversarial="pgd", adv_eps=0.1, adv_steps=7, adv_alpha=0.02, adv_ratio=0.25)
    (tmp_path / "config.json").write_text(config.to_json())
    assert TrainConfig.from_file(tmp_path / "config.json") == config
    assert config.adversarial_settings == {"method": "pgd", "eps": 0.1, "steps": 7, "alpha": 0.02, "ratio": 0.25}
    pgd = TrainConfig(adversarial="pgd", adv_eps=0.1).adversarial_settings
    assert pgd == {"method": "pgd", "eps": 0.1, "steps": 10, "alpha": pytest.approx(2.5 * 0.1 / 10), "ratio": 0.0}
    fgsm = TrainConfig(adversarial="fgsm", adv_eps=0.2).adversarial_settings
    assert fgsm == {"method": "fgsm", "eps": 0.2, "steps": 1, "alpha": 0.2, "ratio": 0.5}
    # a config.json written before adversarial training existed still loads, as a standard run
    old = {k: v for k, v in TrainConfig().to_dict().items() if not k.startswith("adv")}
    assert TrainConfig.from_dict(old).adversarial_settings is None


@pytest.mark.parametrize(("values", "message"), [
    (dict(adversarial="pgd", adv_eps=-0.1), "must be in \\(0, 1\\]"),
    (dict(adversarial="pgd", adv_eps=1.5), "must be in \\(0, 1\\]"),
    (dict(adversarial="pgd"), r"adversarial='pgd' needs adv_eps \(--eps\)"),  # the field, then its flag
    (dict(adversarial="cw", adv_eps=0.1), "unknown adversarial training method 'cw'"),
    (dict(adversarial="fgsm", adv_eps=0.1, adv_ratio=1.5), "adv_ratio .* must be in \\[0, 1\\]"),
    (dict(adversarial="pgd", adv_eps=0.1, adv_ratio=-0.1), "adv_ratio .* must be in \\[0, 1\\]"),
    (dict(adversarial="pgd", adv_eps=0.1, adv_steps=0), r"adv_steps \(--adv-steps\) must be an integer in \[1, 1,000\]"),
    (dict(adversarial="pgd", adv_eps=0.1, adv_alpha=0.0), "adv_alpha .* must be in \\(0, 1\\]"),
    (dict(adversarial="fgsm", adv_eps=0.1, adv_steps=3), r"adv_steps \(--adv-steps\) applies to adversarial='pgd' \(--adversarial pgd\) only"),
    (dict(adv_eps=0.1), r"adv_eps \(--eps\) applies to adversarial training only"),
])
def test_config_refuses_bad_adversarial_settings(values, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**values)


# --- the FGSM objective against a hand-written step -----------------------------------------

def test_fgsm_training_step_is_goodfellows_mixed_objective(tmp_path, monkeypatch, no_report) -> None:
    """One SGD step of the loop equals w - lr * grad(0.5 J(x) + 0.5 J(x + eps sign(grad_x J(x))))."""
    eps, lr, ratio = 0.2, 0.5, 0.3
    train = load_dataset("digits", "train", seed=0)
    initial = {}
    real = trainer.make_optimizer

    def spy(model, config):
        initial.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real(model, config)

    monkeypatch.setattr(trainer, "make_optimizer", spy)
    config = TrainConfig(
        model="lenet5", data="digits", epochs=1, batch_size=len(train), lr=lr, momentum=0.0, weight_decay=0.0,
        schedule="constant", amp="off", channels_last=False, threads=1, out=str(tmp_path), name="one",
        adversarial="fgsm", adv_eps=eps, adv_ratio=ratio,
    )
    run = fit(config, progress=False).run_dir
    trained = load_file(run / "model.safetensors")

    # the same step by hand, with plain autograd
    network = create_model("lenet5", num_classes=10, in_chans=1, input_size=8)
    model = nn.Sequential(Normalize(train.spec.mean, train.spec.std), network)
    model.load_state_dict(initial)
    x, y = train.images.float() / 255, train.labels.long()  # (N, 1, 8, 8) in [0, 1]
    x_in = x.clone().requires_grad_(True)
    (grad_x,) = torch.autograd.grad(F.cross_entropy(model(x_in), y), x_in)
    x_adv = (x + eps * grad_x.sign()).clamp(0, 1)
    loss = ratio * F.cross_entropy(model(x), y) + (1 - ratio) * F.cross_entropy(model(x_adv), y)
    grads = torch.autograd.grad(loss, list(network.parameters()))
    expected = {name: (p - lr * g).detach() for (name, p), g in zip(network.named_parameters(), grads)}
    clean_grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(network.parameters()))
    clean_step = {name: (p - lr * g).detach() for (name, p), g in zip(network.named_parameters(), clean_grads)}

    assert expected.keys() == trained.keys()
    for name, want in expected.items():
        torch.testing.assert_close(trained[name], want, rtol=1e-4, atol=1e-5)
    assert max(float((clean_step[k] - trained[k]).abs().max()) for k in trained) > 1e-3  # not a clean step
    record = read_metrics(run)[0]
    assert record["train_loss"] == pytest.approx(loss.item(), rel=1e-4)
    assert "train_adv_acc" in record
    assert json.loads((run / "model.json").read_text())["training"]["adversarial"]["method"] == "fgsm"


# --- PGD examples: inside the eps-ball and the box; BatchNorm statistics untouched -----------

def test_pgd_examples_stay_in_the_ball_and_box_and_leave_batchnorm_alone() -> None:
    torch.manual_seed(0)
    network = create_model("fastnet", num_classes=10, in_chans=1, input_size=8, widths=[8, 16, 16], depths=[1, 1, 1])
    model = nn.Sequential(Normalize([0.3], [0.3]), network).train()
    x = torch.rand(32, 1, 8, 8)
    x[:, :, :2] = 0.0  # pixels on the box's faces: the ball must be cut by [0, 1]
    x[:, :, -2:] = 1.0
    y = torch.randint(0, 10, (32,))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    eps = 0.1
    x_adv = AdversarialTraining(method="pgd", eps=eps, steps=5, alpha=0.04).examples(model, x, y)

    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert float((x_adv - x).abs().amax(dim=(1, 2, 3)).min()) > eps / 2  # it moved
    assert model.training and not x_adv.requires_grad
    for key, value in network.state_dict().items():  # running means, variances and counts as they were
        assert torch.equal(value, before[key]), key
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)  # it ascended the loss


# --- robustness: FGSM training beats standard training under FGSM ----------------------------

TINY = dict(model="fastnet", data="digits", batch_size=64, lr=0.1, threads=1,
            model_kwargs={"widths": [8, 16, 16], "depths": [1, 1, 1]})


def test_fgsm_training_is_more_robust_to_fgsm_than_standard_training(tmp_path, no_report) -> None:
    eps = 0.1
    standard = TrainConfig(**TINY, epochs=3, out=str(tmp_path), name="standard")
    accuracy = {}
    for config in (standard, standard.replace(adversarial="fgsm", adv_eps=eps, name="fgsm")):
        run = open_model(fit(config, progress=False).run_dir, device="cpu")
        test = dataset_for(run, split="test")
        x, y = test.images.float() / 255, test.labels  # (N, 1, 8, 8) in [0, 1]
        accuracy[config.name] = FGSM(eps=eps)(run.model, x, y).adv_accuracy
    # measured: 0.49 standard, 0.77 FGSM-trained (FastNet 8-16-16, 3 epochs, 359 test digits)
    assert accuracy["fgsm"] > accuracy["standard"] + 0.1, accuracy


# --- exact resume of a PGD-trained run ---------------------------------------------------------

PGD_RUN = dict(TINY, epochs=1, batch_size=128, augment=True, dropout=0.2,  # every random stream matters
               adversarial="pgd", adv_eps=0.1, adv_steps=2, checkpoint_every=0)


def test_pgd_training_stopped_and_resumed_gives_identical_weights(tmp_path, monkeypatch, no_report) -> None:
    seen = []
    real = AdversarialTraining.examples

    def recording(self, model, x, y):
        x_adv = real(self, model, x, y)
        seen.append(float((x_adv - x).abs().max()))
        return x_adv

    monkeypatch.setattr(AdversarialTraining, "examples", recording)
    reference = fit(TrainConfig(**PGD_RUN, out=str(tmp_path), name="ref"), progress=False).run_dir
    assert len(seen) == 12 and max(seen) <= 0.1 + 1e-6 and min(seen) > 0.05  # 12 steps, each inside the ball

    real_due = trainer.Trainer._checkpoint_due

    def due(self, step):
        if step == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_due(self, step)

    monkeypatch.setattr(trainer.Trainer, "_checkpoint_due", due)
    with pytest.raises(TrainingInterrupted):
        fit(TrainConfig(**PGD_RUN, out=str(tmp_path), name="run"), progress=False)
    monkeypatch.setattr(trainer.Trainer, "_checkpoint_due", real_due)
    resumed = resume(tmp_path / "run", progress=False).run_dir

    assert (resumed / "model.safetensors").read_bytes() == (Path(reference) / "model.safetensors").read_bytes()
    assert read_metrics(resumed)[0]["train_adv_acc"] == read_metrics(reference)[0]["train_adv_acc"]
