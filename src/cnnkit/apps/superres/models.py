"""Which super-resolution model to use: the shipped one of a scale, a run directory, or a shipped
name; and the TrainConfig a super-resolution run starts from.

The shipped weights live in ``cnnkit/weights/superres-x{scale}/`` as a run directory in
miniature (model.json, model.safetensors) beside ``reproduce.json``, which names the command and
the commit that trained them; they load through the same checks as any run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import cnnkit
from cnnkit.apps.superres.resize import check_scale
from cnnkit.errors import ConfigError, RunDirError
from cnnkit.runs.format import ModelInfo, load_run
from cnnkit.train.config import TrainConfig

__all__ = ["DEFAULT_MODEL", "SRModel", "open_sr_model", "shipped_models", "sr_train_config"]

WEIGHTS = Path(cnnkit.__file__).resolve().parent / "weights"
DEFAULT_MODEL = "espcn_residual"


@dataclass(frozen=True)
class SRModel:
    """A trained super-resolution network, its scale, and where it came from."""

    network: nn.Module
    scale: int
    info: ModelInfo
    source: str

    @property
    def degradation(self) -> str:
        return str(self.info.task_options.get("degradation", "bicubic"))


def shipped_models() -> dict[str, Path]:
    """The shipped models by name ("superres-x3", ...): the folders under cnnkit/weights/."""
    if not WEIGHTS.is_dir():
        return {}
    return {p.name: p for p in sorted(WEIGHTS.iterdir()) if p.name.startswith("superres-") and (p / "model.json").is_file()}


def open_sr_model(source: str | Path | None = None, *, scale: int | None = None,
                  device: torch.device | str = "cpu") -> SRModel:
    """A run directory of a super-resolution run, a shipped model's name ("superres-x3"; "espcn_residual", the
    shipped architecture, means the shipped model of ``scale``), or (None) the shipped default of ``scale``."""
    if scale is not None:
        check_scale(scale)
    shipped = shipped_models()
    if source is None:
        name = f"superres-x{scale or 3}"
        if name not in shipped:
            raise RunDirError(f"no shipped model for x{scale or 3} in {WEIGHTS}; the installation is incomplete "
                              "(reinstall cnnkit) or pass --model RUN")
        path, label = shipped[name], name
    elif str(source) in shipped:
        path, label = shipped[str(source)], str(source)
    elif str(source) == DEFAULT_MODEL and f"superres-x{scale or 3}" in shipped:  # the architecture's shipped weights
        path, label = shipped[f"superres-x{scale or 3}"], f"superres-x{scale or 3}"
    else:
        path, label = Path(source), str(source)
        if not path.is_dir():
            names = ", ".join(shipped) or "none installed"
            raise RunDirError(f"{source} is neither a run directory nor a shipped model ({names})")
    run = load_run(path, device=device)
    if run.info.task != "superres":
        raise RunDirError(f"{label} is a {run.info.task} run, not super-resolution; pass a run of 'cnnkit sr train'")
    model_scale = check_scale(run.info.task_options.get("scale"))
    if scale is not None and scale != model_scale:
        raise ConfigError(f"{label} upscales x{model_scale}, not x{scale}; drop --scale or pick a x{scale} model")
    return SRModel(network=run.network.eval(), scale=model_scale, info=run.info, source=label)


def sr_train_config(**values: Any) -> TrainConfig:
    """A super-resolution TrainConfig: Adam (AdamW without decay) at 1e-3, cosine, batches of 32 patches,
    flips and rotations; ``values`` override any field, and the task_options keys (scale, patch, ...)."""
    option_names = ("scale", "patch", "degradation", "jpeg_quality", "noise_sigma", "patches_per_epoch", "loss",
                    "test_dir")
    options = {k: values.pop(k) for k in option_names if values.get(k) is not None}
    for k in option_names:
        values.pop(k, None)
    config = {
        "task": "superres", "model": DEFAULT_MODEL, "data": "skimage", "optimizer": "adamw", "lr": 1e-3,
        "weight_decay": 0.0, "momentum": 0.9, "schedule": "cosine", "batch_size": 32, "epochs": 20, "augment": True,
        "amp": "auto", "channels_last": False, "eval_every": 1,
    }
    config.update({k: v for k, v in values.items() if v is not None})
    config["task_options"] = {**config.get("task_options", {}), **options}
    if "name" not in config or config["name"] is None:
        scale = config["task_options"].get("scale", 3)
        config.pop("name", None)
        from cnnkit.runs.format import free_run_name

        config["name"] = free_run_name(config.get("out", "runs"), f"{config['model']}-x{scale}")
    return TrainConfig.from_dict(config)
