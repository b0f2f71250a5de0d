"""Super-resolution as a Task for the one trainer (Dong et al., 2016, section 4.1: sub-images of
luminance, mean squared error, PSNR on held-out photographs).

Training items are patches, drawn on the fly: an epoch is ``patches_per_epoch`` items, each
item names a photograph (every photograph alike), and ``prepare`` cuts a random ``patch`` x
``patch`` square from it with the trainer's augmentation generator, flips and rotates it by a
multiple of 90 degrees (when the run augments), and degrades it. So an epoch costs no memory
beyond the photographs, a resumed run draws the very same patches, and torchrun ranks draw
different ones. The test set is whole photographs, cropped to a multiple of the scale; the
evaluation degrades them (with fixed seeds), restores them in tiles and averages PSNR and SSIM on
Y with ``scale`` pixels shaved, beside bicubic interpolation of the same input.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.superres.degradation import degrade, parse_degradation
from cnnkit.apps.superres.metrics import psnr, ssim
from cnnkit.apps.superres.photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, folder_photos, luminance, read_photo, skimage_photo
from cnnkit.apps.superres.resize import bicubic, check_scale
from cnnkit.apps.superres.upscale import restore_luminance
from cnnkit.data.batching import IndexedDataset
from cnnkit.errors import ConfigError, DataError
from cnnkit.models import create_model, get_model_entry
from cnnkit.runs.format import ModelInfo, write_model
from cnnkit.schema import Fields, options_from_dict
from cnnkit.train.config import TrainConfig
from cnnkit.train.task import Built

__all__ = ["Photographs", "SuperResolutionOptions", "SuperResolutionTask", "SREvaluation", "restore_batch"]

DATA_SOURCES = ("skimage", "folder")


@dataclass(frozen=True)
class SuperResolutionOptions:
    """config.task_options of a super-resolution run, every default resolved."""

    scale: int = 3
    patch: int = 48                 # side of a high-resolution training patch, a multiple of scale
    degradation: str = "bicubic"    # bicubic, blur, jpeg, noise or a combination (blur+jpeg)
    jpeg_quality: int = 75
    noise_sigma: float = 0.02       # of the noise degradation, in pixel units of [0, 1]
    patches_per_epoch: int = 16_384
    loss: str = "l1"                # "l1" (the default: 0.05-0.07 dB better here at equal steps) or "mse" (the paper's)
    test_dir: str | None = None     # a folder of test photographs; None: the held-out share

    def __post_init__(self) -> None:
        f = Fields("task_options", ConfigError, hint="'cnnkit sr train --help' gives the ranges")
        check_scale(self.scale)
        f.integer("patch", self.patch, 8, 512)
        if self.patch % self.scale:
            raise ConfigError(f"task_options.patch ({self.patch}) must be a multiple of the scale {self.scale}")
        f.text("degradation", self.degradation, max_len=100)
        parse_degradation(self.degradation)
        f.integer("jpeg_quality", self.jpeg_quality, 1, 95)
        f.number("noise_sigma", self.noise_sigma, 0, 1)
        f.integer("patches_per_epoch", self.patches_per_epoch, 1, 10**9)
        f.text("loss", self.loss, choices=("mse", "l1"))
        if self.test_dir is not None:
            f.text("test_dir", self.test_dir, max_len=4096)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SuperResolutionOptions:
        return options_from_dict(cls, values, "super-resolution")

    def degrade(self, hr: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(N, 1, H, W) high-resolution luminance to the network's low-resolution input, this run's way."""
        return degrade(hr, self.scale, self.degradation, quality=self.jpeg_quality, sigma=self.noise_sigma,
                       generator=generator)


class Photographs(IndexedDataset):
    """Training patches: ``count`` items a pass, item i from photograph i mod len(photographs)."""

    def __init__(self, photographs: list[Tensor], count: int, names: list[str]) -> None:
        self.photographs, self.count, self.names = photographs, count, names

    def __len__(self) -> int:
        return self.count

    def load(self, order: Iterator[Tensor]) -> Iterator[Tensor]:
        n = len(self.photographs)
        for indices in order:
            yield indices % n


@dataclass
class SREvaluation:
    """A whole-image evaluation: ``metrics`` for metrics.jsonl, and per photograph what the report shows."""

    metrics: dict[str, float]
    names: list[str]
    psnr: list[float]
    psnr_bicubic: list[float]
    ssim: list[float]
    ssim_bicubic: list[float]
    example: tuple[Tensor, Tensor, Tensor] | None = None   # HR, bicubic and network Y of the first photograph


def _quantised(y: Tensor) -> Tensor:
    """As an 8-bit image would store it (the papers measure the saved uint8 output)."""
    return (y.clamp(0, 1) * 255).round() / 255


def restore_batch(model: nn.Module, lr: Tensor, scale: int) -> Tensor:
    """A batch (N, 1, h, w) of low-resolution luminance through ``model``, as it trains."""
    if getattr(model, "learns_upsampling", False):
        return model(lr)
    return model(bicubic(lr, (lr.shape[-2] * scale, lr.shape[-1] * scale)))


class SuperResolutionTask:
    """Patches of luminance in, the restored luminance out; MSE (or L1) loss, PSNR on Y."""

    better = {"train_loss": "min", "train_psnr": "max", "test_psnr": "max", "test_ssim": "max",
              "test_psnr_bicubic": "max", "test_gain": "max"}
    headline = "test_psnr"

    def __init__(self, config: TrainConfig) -> None:
        self.options = SuperResolutionOptions.from_dict(dict(config.task_options))
        if config.adversarial is not None:
            raise ConfigError("adversarial training (--adversarial) applies to classification, not super-resolution")
        if config.tta:
            raise ConfigError("tta (--tta) applies to classification; super-resolution evaluates each image once")
        if config.data not in DATA_SOURCES:
            raise ConfigError(f"super-resolution trains on {' or '.join(DATA_SOURCES)} (data), got {config.data!r}: "
                              "'skimage' for scikit-image's photographs, 'folder' with data_dir for your own")
        self.augment = False
        self.memory_format = torch.contiguous_format
        self.network: nn.Module | None = None
        self.photographs: list[Tensor] = []
        self.seed = config.seed

    # ------------------------------------------------------------------ data
    def datasets(self, config: TrainConfig, device: torch.device) -> tuple[Photographs, list[tuple[str, Tensor]]]:
        options = self.options
        if config.data == "skimage":
            train = [(name, skimage_photo(name)) for name in TRAIN_PHOTOS]
            test = [(name, skimage_photo(name)) for name in HELD_OUT_PHOTOS]
        else:
            if config.data_dir is None:
                raise ConfigError("data 'folder' needs data_dir (--data-dir), the folder of training photographs")
            files = folder_photos(config.data_dir)
            if options.test_dir is not None:
                test_files = folder_photos(options.test_dir)
            elif len(files) >= 2:  # every tenth photograph (at least one) is held out
                held = max(1, len(files) // 10)
                files, test_files = files[:-held], files[-held:]
            else:
                raise DataError(f"{config.data_dir} holds one photograph; give two or more (one is held out for "
                                "testing) or a test folder (--test-dir)")
            train = [(p.name, read_photo(p)) for p in files]
            test = [(p.name, read_photo(p)) for p in test_files]
        usable = [(name, _luminance_u8(image)) for name, image in train if min(image.shape[-2:]) >= options.patch]
        if not usable:
            raise DataError(f"no training photograph is at least {options.patch} pixels a side (the patch size); "
                            "give larger photographs or a smaller --patch")
        tests = []
        for name, image in test:
            y = _luminance_u8(image)
            h, w = (s - s % options.scale for s in y.shape[-2:])   # the papers' "modcrop"
            if min(h, w) < 8 * options.scale:
                raise DataError(f"test photograph {name} is {y.shape[-1]}x{y.shape[-2]} pixels; give one of at least "
                                f"{8 * options.scale} pixels a side")
            tests.append((name, y[:, :h, :w].contiguous()))
        photographs = [y.to(device) for _, y in usable]
        return Photographs(photographs, options.patches_per_epoch, [n for n, _ in usable]), tests

    # ------------------------------------------------------------------ model
    def build(self, config: TrainConfig, train_set: Photographs, device: torch.device) -> Built:
        entry = get_model_entry(config.model)
        if entry.task != "superres":
            raise ConfigError(f"{config.model} is a {entry.task} model; super-resolution trains one of "
                              "'cnnkit models --task superres'")
        kwargs: dict[str, Any] = {"in_chans": 1}
        if "scale" in inspect.signature(entry.constructor).parameters:
            kwargs["scale"] = self.options.scale
        kwargs.update(config.model_kwargs)
        if kwargs.get("scale", self.options.scale) != self.options.scale:
            raise ConfigError(f"model_kwargs scale {kwargs['scale']} differs from the run's scale {self.options.scale}")
        network = create_model(config.model, **kwargs)
        learns = getattr(network, "learns_upsampling", False)
        kwargs["input_size"] = self.options.patch // self.options.scale if learns else self.options.patch
        network.cnnkit_kwargs = dict(kwargs)
        self.network, self.photographs = network, train_set.photographs
        model = network.to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
            self.memory_format = torch.channels_last
        self.augment = config.augment
        return Built(network=network, model=model, kwargs=kwargs)

    # ------------------------------------------------------------------ one step
    def prepare(self, batch: Tensor, device: torch.device, generator: torch.Generator) -> tuple[Tensor, Tensor, int]:
        p, options = self.options.patch, self.options
        photographs = self.photographs
        patches = []
        for index in batch.tolist():
            image = photographs[index]
            h, w = image.shape[-2:]
            top = int(torch.randint(h - p + 1, (), generator=generator))
            left = int(torch.randint(w - p + 1, (), generator=generator))
            patch = image[:, top:top + p, left:left + p]
            if self.augment:  # the eight symmetries of a square
                if int(torch.randint(2, (), generator=generator)):
                    patch = patch.flip(-1)
                patch = torch.rot90(patch, int(torch.randint(4, (), generator=generator)), (-2, -1))
            patches.append(patch)
        hr = torch.stack(patches).to(device, non_blocking=True).float().div_(255)
        lr = options.degrade(hr, generator)
        x = lr if getattr(self.network, "learns_upsampling", False) else bicubic(lr, (p, p))
        shrink = getattr(self.network, "shrink", 0) // 2
        if shrink:
            hr = hr[..., shrink:p - shrink, shrink:p - shrink]
        return self.as_input(x), hr, len(patches)

    def as_input(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=self.memory_format)

    def loss(self, model: nn.Module, output: Tensor, targets: Tensor) -> Tensor:
        if self.options.loss == "l1":
            return F.l1_loss(output.float(), targets)
        return F.mse_loss(output.float(), targets)

    def zero_sums(self, device: torch.device) -> dict[str, Tensor]:
        return {"squared_error_sum": torch.zeros((), device=device, dtype=torch.float64),
                "pixel_sum": torch.zeros((), device=device, dtype=torch.float64)}

    def add_sums(self, sums: dict[str, Tensor], output: Tensor, targets: Tensor, prefix: str = "") -> None:
        error = (output.detach().float().clamp(0, 1) - targets).double()
        sums[f"{prefix}squared_error_sum"] += error.pow(2).sum()
        sums[f"{prefix}pixel_sum"] += error.numel()

    def train_metrics(self, sums: dict[str, float], seen: int, prefix: str = "") -> dict[str, float]:
        mse = sums[f"{prefix}squared_error_sum"] / max(sums[f"{prefix}pixel_sum"], 1)
        return {f"train_{prefix}psnr": 10 * math.log10(1 / mse) if mse > 0 else math.inf}

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, model: nn.Module, test_set: list[tuple[str, Tensor]], *, config: TrainConfig,
                 device: torch.device, amp: torch.dtype | None, final: bool) -> SREvaluation:
        """PSNR and SSIM over whole photographs in float32 (no autocast), beside bicubic."""
        return evaluate_photographs(model, test_set, self.options, seed=self.seed, keep_example=final)

    def finish(self, run_dir: Path, built: Built, *, config: TrainConfig, test_set: list[tuple[str, Tensor]],
               evaluation: SREvaluation, training: dict[str, Any]) -> None:
        from cnnkit.apps.superres.report import build_sr_report

        info = ModelInfo(
            architecture=config.model, kwargs=built.kwargs, classes=[], in_chans=1,
            input_size=built.kwargs["input_size"], mean=[0.0], std=[1.0], dataset=config.data, training=training,
            task="superres", task_options=model_options(self.options),
        )
        write_model(run_dir, built.network, info)
        build_sr_report(run_dir, info=info, config=config, evaluation=evaluation, network=built.network)


    def rebuild_report(self, run_dir: Path, *, run: Any, config: TrainConfig, device: torch.device) -> Path:
        """``cnnkit report RUN``: evaluate the finished run's network again and rewrite its report."""
        from cnnkit.apps.superres.report import build_sr_report

        _, test_set = self.datasets(config, torch.device("cpu"))
        evaluation = evaluate_photographs(run.network, test_set, self.options, seed=self.seed, keep_example=True)
        return build_sr_report(run_dir, info=run.info, config=config, evaluation=evaluation, network=run.network)


def model_options(options: SuperResolutionOptions) -> dict[str, Any]:
    """What model.json records for using the model: the scale and the degradation it learnt to undo."""
    recorded = {"scale": options.scale, "degradation": options.degradation}
    if "jpeg" in options.degradation:
        recorded["jpeg_quality"] = options.jpeg_quality
    if "noise" in options.degradation:
        recorded["noise_sigma"] = options.noise_sigma
    return recorded


def _luminance_u8(image: Tensor) -> Tensor:
    """Y as an 8-bit image (1, H, W) uint8, as MATLAB's rgb2ycbcr leaves it in SRCNN's code."""
    return (luminance(image) * 255).round().clamp(0, 255).to(torch.uint8)


def evaluate_photographs(model: nn.Module | None, photographs: list[tuple[str, Tensor]],
                         options: SuperResolutionOptions, *, seed: int = 0,
                         keep_example: bool = False) -> SREvaluation:
    """Mean PSNR / SSIM on Y (``scale`` pixels shaved) of ``model`` and of bicubic, per photograph.

    ``photographs`` hold uint8 luminance (1, H, W), H and W multiples of the scale; each is
    degraded with its own seed (``seed`` + its position), so noise is the same at every epoch."""
    scale, names = options.scale, []
    values: dict[str, list[float]] = {"psnr": [], "psnr_bicubic": [], "ssim": [], "ssim_bicubic": []}
    example = None
    for i, (name, y_u8) in enumerate(photographs):
        hr = y_u8.float().div(255).cpu()
        lr = options.degrade(hr[None], torch.Generator().manual_seed(seed + i))[0]
        bic = _quantised(bicubic(lr[None], hr.shape[-2:])[0])
        out = _quantised(restore_luminance(model, lr, scale)) if model is not None else bic
        names.append(name)
        values["psnr"].append(float(psnr(out, hr, border=scale)))
        values["psnr_bicubic"].append(float(psnr(bic, hr, border=scale)))
        values["ssim"].append(float(ssim(out[0], hr[0], border=scale)))
        values["ssim_bicubic"].append(float(ssim(bic[0], hr[0], border=scale)))
        if keep_example and example is None:
            example = (hr, bic, out)
    mean = {k: sum(v) / len(v) for k, v in values.items()}
    metrics = {"test_psnr": mean["psnr"], "test_ssim": mean["ssim"], "test_psnr_bicubic": mean["psnr_bicubic"],
               "test_gain": mean["psnr"] - mean["psnr_bicubic"]}
    return SREvaluation(metrics=metrics, names=names, example=example, **values)
