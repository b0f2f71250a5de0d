"""``cnnkit train --adversarial fgsm|pgd --eps E``: flags build the TrainConfig, mistakes are one line and exit 2."""

from __future__ import annotations

import pytest

import cnnkit.train
from cnnkit.train import TrainConfig


@pytest.fixture
def captured(monkeypatch) -> list[TrainConfig]:
    """Stands in for fit(): records the config the command built instead of training."""
    configs: list[TrainConfig] = []

    def fake_fit(config, *, progress=True):
        configs.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(cnnkit.train, "fit", fake_fit)
    return configs


def test_flags_reach_the_config_and_config_json_re_runs_it(run_cli, capsys, captured, tmp_path) -> None:
    args = ["train", "--adversarial", "pgd", "--eps", "0.1", "--adv-steps", "7", "--adv-alpha", "0.03",
            "--adv-ratio", "0.2", "--out", str(tmp_path)]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    (config,) = captured
    assert (config.adversarial, config.adv_eps, config.adv_steps, config.adv_alpha, config.adv_ratio) == (
        "pgd", 0.1, 7, 0.03, 0.2)
    (tmp_path / "config.json").write_text(config.to_json())
    code, _, err = run_cli(["train", "--config", str(tmp_path / "config.json")], capsys)
    assert code == 0, err
    assert captured[1] == config


@pytest.mark.parametrize(("args", "message"), [
    (["--adversarial", "pgd", "--eps", "-0.1"], "must be in (0, 1]"),
    (["--adversarial", "bim", "--eps", "0.1"], "unknown adversarial training method 'bim'"),
    (["--adversarial", "fgsm", "--eps", "0.1", "--adv-ratio", "2"], "must be in [0, 1]"),
    (["--adversarial", "pgd"], "needs adv_eps (--eps)"),
    (["--eps", "0.1"], "(--eps) applies to adversarial training only"),
])
def test_bad_adversarial_flags_print_one_line_and_exit_2(run_cli, capsys, captured, args, message) -> None:
    code, out, err = run_cli(["train", *args], capsys)
    assert code == 2 and not captured
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_resume_refuses_adversarial_flags(run_cli, capsys, tmp_path) -> None:
    code, _, err = run_cli(["train", "--resume", str(tmp_path), "--eps", "0.1"], capsys)
    assert code == 2 and "drop --eps" in err, err
