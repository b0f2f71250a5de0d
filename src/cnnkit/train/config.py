"""TrainConfig: every choice a training run makes, frozen, checked, and saved as config.json.

``cnnkit train --config runs/X/config.json`` re-runs a run exactly, because the file holds
the fully resolved configuration (a recipe's values included), not the flags that were typed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnkit.errors import ConfigError
from cnnkit.files import MIB, json_depth, read_json
from cnnkit.schema import MAX_SEED, Fields, shown

__all__ = ["TrainConfig", "OPTIMIZERS", "SCHEDULES", "AMP_MODES", "DEVICES", "ADVERSARIAL_METHODS"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
AMP_MODES = ("auto", "off", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
ADVERSARIAL_METHODS = ("fgsm", "pgd")
ADV_DEFAULT_STEPS = 10           # PGD steps per training batch (Madry et al. use 7 on CIFAR-10)
ADV_DEFAULT_RATIO = {"fgsm": 0.5, "pgd": 0.0}  # weight of the clean loss: Goodfellow's 0.5, Madry's 0
MAX_EPOCHS = 10_000               # ranges of the options: beyond them a value is a typo, not a plan
MAX_LR = 10.0


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A training run: model, data, optimisation, schedule, regularisation and output."""

    # what to train on what
    task: str = "classification"       # the Task (train/task.py TASKS): "classification", "superres", ...
    task_options: dict[str, Any] = field(default_factory=dict)  # the task's own settings, checked by it
    model: str = "lenet5"
    data: str = "fashion-mnist"
    data_dir: str | None = None        # where the dataset's files are; None searches the usual places
    image_size: int | None = None      # pixels; folder datasets are resized to it (default 64)
    train_per_class: int = 30          # Caltech-101: training images per class, the rest test
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra JSON kwargs for the model
    dropout: float | None = None       # probability; None keeps the model's default

    # optimisation
    epochs: int = 8
    batch_size: int = 128              # images per step
    optimizer: str = "sgd"
    lr: float = 0.05                   # peak learning rate of the schedule
    momentum: float = 0.9              # SGD momentum; AdamW's beta1
    nesterov: bool = True
    weight_decay: float = 5e-4         # decoupled for AdamW, L2 for SGD; not on biases and norms
    schedule: str = "onecycle"
    warmup_epochs: float = 0.0         # epochs of linear warm-up (onecycle has its own ramp)
    step_epochs: int = 3               # step schedule: epochs between decays
    step_gamma: float = 0.1            # step schedule: factor of each decay
    label_smoothing: float = 0.0       # probability mass spread over all classes
    clip_grad_norm: float | None = None  # rescale the gradient to at most this L2 norm (None: never)

    # adversarial training (train/adversarial.py); all None for a standard run
    adversarial: str | None = None     # None, "fgsm" (Goodfellow et al., 2015) or "pgd" (Madry et al., 2018)
    adv_eps: float | None = None       # L-inf radius in pixel units of [0, 1] (before normalisation)
    adv_steps: int | None = None       # PGD steps per batch; None: 10
    adv_alpha: float | None = None     # PGD step size, pixel units; None: 2.5 * adv_eps / adv_steps
    adv_ratio: float | None = None     # weight R of the clean loss in R * J(x) + (1 - R) * J(x_adv);
                                       # None: 0.5 for fgsm (Goodfellow), 0 for pgd (Madry)

    # data pipeline
    augment: bool = False              # random crop with padding, flip where the dataset allows
    tta: bool = False                  # test-time augmentation: average with the flipped image
    num_workers: int = 2               # decoding processes for folder datasets

    # machine and run
    seed: int = 0
    threads: int | None = None         # CPU threads for torch; None uses all cores
    device: str = "auto"               # auto picks CUDA when present
    amp: str = "auto"                  # mixed precision: bf16 on capable CPUs, fp16 on CUDA
    channels_last: bool = True         # NHWC memory layout, faster with oneDNN and cuDNN
    reference_ops: bool = False        # train on cnnkit.ops (hand-written backward), not torch's kernels
    eval_every: int = 1                # epochs between test evaluations (the last is always run)
    checkpoint_every: int | None = None  # steps between checkpoints besides each epoch's end;
                                       # 0: epoch ends only; None: every 30 s, under 2% of the time
    out: str = "runs"                  # parent directory of run directories
    name: str | None = None            # run directory name; None: <model>-<data>-<time>
    recipe: str | None = None          # the recipe these values came from, for the record

    def __post_init__(self) -> None:
        f = Fields("", ConfigError, hint="'cnnkit train --help' gives the ranges", label=_with_flag)
        f.text("task", self.task, max_len=50)
        f.mapping("task_options", self.task_options, max_items=100)
        if json_depth(self.task_options) > 8:
            raise f.fail("task_options", "an object nested at most 8 levels deep", self.task_options)
        f.text("model", self.model, max_len=100)
        f.text("data", self.data, max_len=100)
        if self.data_dir is not None:
            f.text("data_dir", self.data_dir, max_len=4096)
        if self.image_size is not None:
            f.integer("image_size", self.image_size, 4, 1024)
        f.integer("train_per_class", self.train_per_class, 1, 100_000)
        f.mapping("model_kwargs", self.model_kwargs, max_items=100)
        if json_depth(self.model_kwargs) > 8:
            raise f.fail("model_kwargs", "an object nested at most 8 levels deep", self.model_kwargs)
        if self.dropout is not None:
            f.number("dropout", self.dropout, 0, 1, open_hi=True)
        f.integer("epochs", self.epochs, 1, MAX_EPOCHS)
        f.integer("batch_size", self.batch_size, 1, 65_536)
        f.text("optimizer", self.optimizer, choices=OPTIMIZERS)
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not 0 < self.lr <= MAX_LR:
            raise ConfigError(f"lr (--lr) must be a number in (0, {MAX_LR:g}], got {shown(self.lr)}; try --lr 0.05")
        f.number("momentum", self.momentum, 0, 1, open_hi=True)
        f.boolean("nesterov", self.nesterov)
        f.number("weight_decay", self.weight_decay, 0, 1)
        f.text("schedule", self.schedule, choices=SCHEDULES)
        f.number("warmup_epochs", self.warmup_epochs, 0, self.epochs, open_hi=True)
        f.integer("step_epochs", self.step_epochs, 1, MAX_EPOCHS)
        f.number("step_gamma", self.step_gamma, 0, 1, open_lo=True)
        f.number("label_smoothing", self.label_smoothing, 0, 1, open_hi=True)
        if self.clip_grad_norm is not None:
            f.number("clip_grad_norm", self.clip_grad_norm, 0, 1e6, open_lo=True)
        f.boolean("augment", self.augment)
        f.boolean("tta", self.tta)
        f.integer("num_workers", self.num_workers, 0, 64)
        f.integer("seed", self.seed, 0, MAX_SEED)
        if self.threads is not None:
            f.integer("threads", self.threads, 1, 256)
        f.text("device", self.device, choices=DEVICES)
        f.text("amp", self.amp, choices=AMP_MODES)
        f.boolean("channels_last", self.channels_last)
        f.boolean("reference_ops", self.reference_ops)
        f.integer("eval_every", self.eval_every, 1, MAX_EPOCHS)
        if self.checkpoint_every is not None:
            f.integer("checkpoint_every", self.checkpoint_every, 0, 10**9)
        f.text("out", self.out, max_len=4096)
        if self.name is not None:
            f.file_name("name", self.name)
        if self.recipe is not None:
            f.text("recipe", self.recipe, max_len=100)
        self._check_adversarial()

    def _check_adversarial(self) -> None:
        given = [name for name in _ADV_FLAGS if getattr(self, name) is not None]
        if self.adversarial is None:
            if given:
                raise ConfigError(f"{_with_flag(given[0])} applies to adversarial training only; "
                                  "set adversarial (--adversarial) to fgsm or pgd")
            return
        if self.adversarial not in ADVERSARIAL_METHODS:
            raise ConfigError(f"adversarial (--adversarial): unknown adversarial training method {shown(self.adversarial)}; "
                              f"choose one of {', '.join(ADVERSARIAL_METHODS)}")
        eps = self.adv_eps
        if eps is None:
            raise ConfigError(f"adversarial={self.adversarial!r} needs adv_eps (--eps), the L-inf radius in pixels of "
                              "[0, 1] (e.g. 0.1 for Fashion-MNIST, 0.031 = 8/255 for CIFAR)")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 1:
            raise ConfigError(f"adv_eps (--eps) must be in (0, 1] (pixel units of [0, 1]), got {eps!r}")
        if self.adversarial == "fgsm":
            for name in ("adv_steps", "adv_alpha"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{_with_flag(name)} applies to adversarial='pgd' (--adversarial pgd) only; "
                                      "FGSM takes one step of size eps")
        if self.adv_steps is not None:
            Fields("", ConfigError).integer("adv_steps (--adv-steps)", self.adv_steps, 1, 1000)
        alpha = self.adv_alpha
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1):
            raise ConfigError(f"adv_alpha (--adv-alpha) must be in (0, 1] (pixel units), got {alpha!r}")
        ratio = self.adv_ratio
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1):
            raise ConfigError(f"adv_ratio (--adv-ratio) must be in [0, 1] (the clean loss's weight), got {ratio!r}")

    @property
    def adversarial_settings(self) -> dict[str, Any] | None:
        """The adversarial training actually run, defaults resolved: method, eps, steps, alpha, ratio."""
        if self.adversarial is None:
            return None
        steps = 1 if self.adversarial == "fgsm" else (self.adv_steps or ADV_DEFAULT_STEPS)
        eps = float(self.adv_eps)
        if self.adversarial == "fgsm":
            alpha = eps
        else:  # PGD's own rule for its step size (2.5 eps / steps, Madry et al.), stated once, in attacks/pgd.py
            from cnnkit.attacks.pgd import PGD

            alpha = float(PGD(eps=eps, steps=steps, alpha=self.adv_alpha).step_size)
        ratio = float(self.adv_ratio if self.adv_ratio is not None else ADV_DEFAULT_RATIO[self.adversarial])
        return {"method": self.adversarial, "eps": eps, "steps": steps, "alpha": alpha, "ratio": ratio}

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON values."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as indented JSON, the content of config.json."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict such as a parsed config.json; unknown keys raise ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; 'cnnkit train --help' lists them")
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(f"bad training configuration: {err}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a config.json written by a previous run (a regular file of at most 1 MiB)."""
        values = read_json(path, what="config file", max_bytes=MIB, error=ConfigError, max_depth=10)
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path} must hold a JSON object; pass a run's config.json")
        try:
            return cls.from_dict(values)
        except ConfigError as err:
            raise ConfigError(f"config file {path}: {err}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (and checked again)."""
        return dataclasses.replace(self, **changes)


_ADV_FLAGS = {"adv_eps": "--eps", "adv_steps": "--adv-steps", "adv_alpha": "--adv-alpha", "adv_ratio": "--adv-ratio"}


_FLAGS = {"num_workers": "--workers", "task_options": "--config's task_options", "adv_eps": "--eps", "model_kwargs": "--config's model_kwargs",
          "warmup_epochs": "--warmup-epochs"}


def _with_flag(name: str) -> str:
    """A field's name with the option that sets it: 'batch_size (--batch-size)'."""
    return f"{name} ({_FLAGS.get(name, '--' + name.replace('_', '-'))})"
