"""``cnnkit train``: train a model and write a run directory with its report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

EXAMPLES = """
\b
Examples:
  cnnkit train                                    LeNet-5 on Fashion-MNIST
  cnnkit train --recipe fast                      93% in under 3 min on 2 CPU cores
  cnnkit train --recipe fast --epochs 4           91% in about 30 s
  cnnkit train --model fastnet --data digits --epochs 5
  cnnkit train --adversarial pgd --eps 0.1 --adv-steps 5 --epochs 4
                                                  PGD training (Madry et al.): 71% under PGD-20 at eps 0.1
  cnnkit train --adversarial fgsm --eps 0.1       FGSM training (Goodfellow et al.): 65% under PGD-20
  cnnkit train --config runs/RUN/config.json      re-run a run exactly
  cnnkit train --resume runs/RUN                  continue a killed or stopped run exactly
  torchrun --nproc-per-node 2 -m cnnkit train     data-parallel over 2 processes
"""


def register(app: typer.Typer) -> None:
    _show_config_defaults(train)
    app.command("train", help="Train a model; prints the path of the run's report.html.\n" + EXAMPLES)(train)


# flags whose TrainConfig field is named otherwise
_FIELD_OF = {"eps": "adv_eps", "workers": "num_workers"}


def _show_config_defaults(command) -> None:
    """Append TrainConfig's default to each flag's help: the flags themselves default to None, so that
    only what was typed overrides a --config file or a --recipe (cnnkit.train.config imports no torch)."""
    import dataclasses
    import inspect

    from cnnkit.train.config import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    for name, parameter in inspect.signature(command).parameters.items():
        info, value = parameter.default, defaults.get(_FIELD_OF.get(name, name))
        if isinstance(info, typer.models.OptionInfo) and value is not None and "[default:" not in (info.help or ""):
            shown = str(value).lower() if isinstance(value, bool) else value
            info.help = f"{info.help} [default: {shown}]"


def train(
    model: Optional[str] = typer.Option(None, help="Registered model name ('cnnkit models' lists them)."),
    data: Optional[str] = typer.Option(None, help="Dataset: fashion-mnist, mnist, kmnist, digits, caltech101, imagenet, folder."),
    data_dir: Optional[Path] = typer.Option(None, help="Directory holding the dataset's files."),
    image_size: Optional[int] = typer.Option(None, help="Folder datasets: resize images to this many pixels."),
    train_per_class: Optional[int] = typer.Option(None, help="Caltech-101: training images per class."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training set."),
    batch_size: Optional[int] = typer.Option(None, help="Images per optimisation step."),
    optimizer: Optional[str] = typer.Option(None, help="sgd or adamw."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate."),
    momentum: Optional[float] = typer.Option(None, help="SGD momentum (AdamW beta1)."),
    nesterov: Optional[bool] = typer.Option(None, "--nesterov/--no-nesterov", help="Nesterov momentum for SGD."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay (not on biases and norms)."),
    schedule: Optional[str] = typer.Option(None, help="constant, step, cosine or onecycle."),
    warmup_epochs: Optional[float] = typer.Option(None, help="Epochs of linear learning-rate warm-up."),
    step_epochs: Optional[int] = typer.Option(None, help="Step schedule: epochs between decays."),
    step_gamma: Optional[float] = typer.Option(None, help="Step schedule: decay factor."),
    label_smoothing: Optional[float] = typer.Option(None, help="Label smoothing, e.g. 0.1."),
    clip_grad_norm: Optional[float] = typer.Option(None, help="Rescale each step's gradient to at most this L2 norm."),
    dropout: Optional[float] = typer.Option(None, help="Dropout probability in the classifier."),
    adversarial: Optional[str] = typer.Option(
        None, help="Adversarial training: fgsm (Goodfellow et al., 2015) or pgd (Madry et al., 2018)."
    ),
    eps: Optional[float] = typer.Option(None, help="Adversarial training: L-inf radius in pixels of [0, 1], e.g. 0.1."),
    adv_steps: Optional[int] = typer.Option(None, help="PGD training: steps per batch (default 10)."),
    adv_alpha: Optional[float] = typer.Option(None, help="PGD training: step size in pixels (default 2.5 eps / steps)."),
    adv_ratio: Optional[float] = typer.Option(
        None, help="Weight of the clean loss in R J(x) + (1 - R) J(x_adv) (default: fgsm 0.5, pgd 0)."
    ),
    augment: Optional[bool] = typer.Option(None, "--augment/--no-augment", help="Random crop and flip on each batch."),
    tta: Optional[bool] = typer.Option(None, "--tta/--no-tta", help="Test-time augmentation with mirror images."),
    seed: Optional[int] = typer.Option(None, help="Random seed; same seed, same weights."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: all cores)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    amp: Optional[str] = typer.Option(None, help="Mixed precision: auto, off, bf16 or fp16."),
    workers: Optional[int] = typer.Option(None, help="Decoding processes for folder datasets."),
    reference_ops: Optional[bool] = typer.Option(
        None, "--reference-ops/--torch-ops",
        help="Convolutions and pools from cnnkit.ops (the lecture's maths, hand-written backward).",
    ),
    eval_every: Optional[int] = typer.Option(None, help="Epochs between test evaluations."),
    checkpoint_every: Optional[int] = typer.Option(
        None, help="Steps between checkpoints besides every epoch's end (0: epoch ends only; "
        "default: every 30 s while that costs under 2% of the time)."
    ),
    out: Optional[Path] = typer.Option(None, help="Parent directory of run directories (default runs/)."),
    name: Optional[str] = typer.Option(None, help="Run directory name (default <model>-<data>-<time>)."),
    config: Optional[Path] = typer.Option(None, help="A saved config.json to start from."),
    recipe: Optional[str] = typer.Option(None, help="A built-in recipe: fast or lenet5."),
    resume: Optional[Path] = typer.Option(
        None, help="Continue this unfinished run from its last checkpoint (runs/NAME)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cnnkit.errors import ConfigError
    from cnnkit.train import TrainConfig, fit
    from cnnkit.train import resume as resume_run
    from cnnkit.train.recipes import apply_recipe

    flags = {
        "model": model, "data": data, "data_dir": str(data_dir.resolve()) if data_dir else None,
        "image_size": image_size, "train_per_class": train_per_class, "epochs": epochs,
        "batch_size": batch_size, "optimizer": optimizer, "lr": lr, "momentum": momentum,
        "nesterov": nesterov, "weight_decay": weight_decay, "schedule": schedule,
        "warmup_epochs": warmup_epochs, "step_epochs": step_epochs, "step_gamma": step_gamma,
        "label_smoothing": label_smoothing, "clip_grad_norm": clip_grad_norm, "dropout": dropout,
        "augment": augment, "tta": tta,
        "adversarial": adversarial, "adv_eps": eps, "adv_steps": adv_steps, "adv_alpha": adv_alpha,
        "adv_ratio": adv_ratio,
        "seed": seed, "threads": threads, "device": device, "amp": amp, "num_workers": workers,
        "reference_ops": reference_ops,
        "eval_every": eval_every, "out": str(out) if out else None, "name": name,
    }
    if resume is not None:
        fixed = [k for k, v in flags.items() if v is not None and k != "num_workers"]
        fixed += [flag for flag, v in (("config", config), ("recipe", recipe)) if v is not None]
        if fixed:
            name_ = "eps" if fixed[0] == "adv_eps" else fixed[0].replace("_", "-")
            raise ConfigError(
                f"--resume continues the run as its config.json says; drop --{name_} "
                f"(only --checkpoint-every, --workers and --quiet may change)"
            )
        result = resume_run(resume, progress=not quiet, checkpoint_every=checkpoint_every, num_workers=workers)
        _print_result(result)
        return
    flags["checkpoint_every"] = checkpoint_every
    values = TrainConfig.from_file(config).to_dict() if config else {}
    if recipe:
        values.update(apply_recipe(recipe))
    values.update({k: v for k, v in flags.items() if v is not None})
    _print_result(fit(TrainConfig.from_dict(values), progress=not quiet))


def _print_result(result) -> None:
    if result.rank != 0:  # under torchrun rank 0 speaks for all
        return
    if result.headline == "test_acc":
        typer.echo(f"test accuracy {result.test_acc:.2%} after {result.seconds:.1f} s")
    elif result.headline == "test_psnr":
        gain = (result.metrics or {}).get("test_gain", float("nan"))
        typer.echo(f"test PSNR {result.test_acc:.2f} dB ({gain:+.2f} dB over bicubic) after {result.seconds:.1f} s")
    else:
        typer.echo(f"{result.headline.replace('_', ' ')} {result.test_acc:.4g} after {result.seconds:.1f} s")
    typer.echo(str(result.report.resolve()))
