"""Optical flow as a Task for the one trainer (Dosovitskiy et al., 2015, section 4: FlyingChairs,
the multi-scale EPE loss, Adam).

Training items are generated pairs, made on the fly: ``prepare`` draws a scene seed for each item
from the trainer's augmentation generator and renders the pair with its exact flow
(scenes.py), so an epoch costs no memory, a resumed run renders the very same scenes and torchrun
ranks render different ones. Training scenes are cut from scikit-image's training photographs,
some objects shaped like Fashion-MNIST's training items; the test pairs from the held-out
photographs and Fashion-MNIST's test items, with seeds from ``TRAINING_SEEDS`` on, which training
never draws. The evaluation reports the end-point error over the valid pixels, and over the
occluded and the non-occluded ones apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.flow.metrics import end_point_error
from cnnkit.apps.flow.networks import FLOW_SCALE, multiscale_epe
from cnnkit.apps.flow.scenes import FlowPair, SceneConfig, make_pair
from cnnkit.data.batching import IndexItems
from cnnkit.errors import ConfigError
from cnnkit.models import create_model, get_model_entry
from cnnkit.runs.format import ModelInfo, write_model
from cnnkit.schema import Fields, options_from_dict
from cnnkit.train.config import TrainConfig
from cnnkit.train.task import Built

__all__ = ["FlowEvaluation", "FlowOptions", "FlowTask", "held_out_pairs", "scene_items", "scene_sources",
           "test_pairs"]

TRAINING_SEEDS = 10**9      # training scenes draw their seeds below this; test seeds start at it


@dataclass(frozen=True)
class FlowOptions:
    """config.task_options of an optical-flow run, every default resolved."""

    size: int = 128                  # scene side in pixels (a multiple of the network's, 64 for FlowNet)
    pairs_per_epoch: int = 4096
    test_pairs: int = 64
    max_shift: float = 24.0          # the scenes' largest translation (SceneConfig)
    object_shift: float = 6.0
    items: str = "fashion-mnist"     # cut-out shapes for some objects: Fashion-MNIST items, or "none"

    def __post_init__(self) -> None:
        f = Fields("task_options", ConfigError, hint="'cnnkit flow train --help' gives the ranges")
        f.integer("size", self.size, 32, 1024)
        f.integer("pairs_per_epoch", self.pairs_per_epoch, 1, 10**9)
        f.integer("test_pairs", self.test_pairs, 1, 100_000)
        f.number("max_shift", self.max_shift, 0, 1000)
        f.number("object_shift", self.object_shift, 0, 1000)
        if self.items not in ("fashion-mnist", "none"):
            raise ConfigError(f"task_options.items must be 'fashion-mnist' or 'none', got {self.items!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FlowOptions:
        return options_from_dict(cls, values, "optical-flow")

    @property
    def scene(self) -> SceneConfig:
        return SceneConfig(size=(self.size, self.size), max_shift=self.max_shift, object_shift=self.object_shift)


def scene_sources(names: tuple[str, ...]) -> list[Tensor]:
    """scikit-image photographs as float (3, H, W) textures for the scenes (grey ones repeated)."""
    from cnnkit.apps.superres.photos import skimage_photo

    return [skimage_photo(name).float().div(255).expand(3, -1, -1).contiguous() if skimage_photo(name).shape[0] == 1
            else skimage_photo(name).float().div(255) for name in names]


def scene_items(options: FlowOptions, split: str) -> Tensor | None:
    """Fashion-MNIST's ``split`` images (N, 28, 28) uint8, the silhouettes of some objects; None for "none"."""
    if options.items == "none":
        return None
    from cnnkit.data.catalog import load_dataset
    from cnnkit.errors import MissingDataError

    try:
        return load_dataset("fashion-mnist", split, download=False).images[:, 0]
    except MissingDataError as error:
        raise MissingDataError(f"{error}; or train on scenes without its items (task_options.items 'none', "
                               "'cnnkit flow train --items none')") from None


def held_out_pairs(options: FlowOptions) -> list[FlowPair]:
    """The test pairs: held-out photographs, Fashion-MNIST's test items, seeds training never draws."""
    from cnnkit.apps.superres.photos import HELD_OUT_PHOTOS

    return test_pairs(options, scene_sources(HELD_OUT_PHOTOS), scene_items(options, "test"))


def _stack(pairs: list[FlowPair]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    x = torch.stack([torch.cat([p.image1, p.image2]) for p in pairs])
    return x, torch.stack([p.flow for p in pairs]), torch.stack([p.valid for p in pairs]), \
        torch.stack([p.occluded for p in pairs])


def test_pairs(options: FlowOptions, sources: list[Tensor], items: Tensor | None = None) -> list[FlowPair]:
    """The evaluation's pairs: seeds TRAINING_SEEDS, TRAINING_SEEDS + 1, ..., never drawn in training."""
    return [make_pair(TRAINING_SEEDS + i, sources, config=options.scene, items=items) for i in range(options.test_pairs)]


@dataclass
class FlowEvaluation:
    """EPE over the test pairs: ``metrics`` for metrics.jsonl, and one example for the report."""

    metrics: dict[str, float]
    example: tuple[Tensor, Tensor, Tensor, Tensor] | None = None   # image1, image2, truth, prediction


def evaluate_pairs(model: nn.Module, pairs: list[FlowPair], *, batch: int = 16, keep_example: bool = False
                   ) -> FlowEvaluation:
    """Mean EPE per pair (over valid, occluded and non-occluded pixels), the pairs' mean of each."""
    device = next(model.parameters()).device
    sums = {"test_epe": 0.0, "test_epe_occluded": 0.0, "test_epe_visible": 0.0}
    counts = dict.fromkeys(sums, 0)
    example = None
    was = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(pairs), batch):
            x, flow, valid, occluded = _stack(pairs[start:start + batch])
            out = model(x.to(device)).float().cpu()
            for name, mask in (("test_epe", valid), ("test_epe_occluded", valid & occluded),
                               ("test_epe_visible", valid & ~occluded)):
                epe = end_point_error(out, flow, mask)
                kept = torch.isfinite(epe)
                sums[name] += float(epe[kept].sum())
                counts[name] += int(kept.sum())
            if keep_example and example is None:
                example = (x[0, :3], x[0, 3:], flow[0], out[0])
    model.train(was)
    metrics = {k: sums[k] / counts[k] if counts[k] else float("nan") for k in sums}
    return FlowEvaluation(metrics=metrics, example=example)


class FlowTask:
    """Generated image pairs in, flow out; the multi-scale EPE loss; EPE on held-out pairs."""

    better = {"train_loss": "min", "train_epe": "min", "test_epe": "min", "test_epe_occluded": "min",
              "test_epe_visible": "min"}
    headline = "test_epe"

    def __init__(self, config: TrainConfig) -> None:
        self.options = FlowOptions.from_dict(dict(config.task_options))
        if config.adversarial is not None or config.tta:
            raise ConfigError("adversarial training and tta apply to classification, not optical flow")
        if config.data != "scenes":
            raise ConfigError(f"optical flow trains on generated scenes (data 'scenes'), got {config.data!r}")
        self.sources: list[Tensor] = []
        self.items: Tensor | None = None
        self.network: nn.Module | None = None
        self.memory_format = torch.contiguous_format

    def datasets(self, config: TrainConfig, device: torch.device) -> tuple[IndexItems, list[FlowPair]]:
        from cnnkit.apps.superres.photos import TRAIN_PHOTOS

        self.sources = scene_sources(TRAIN_PHOTOS)
        self.items = scene_items(self.options, "train")
        return IndexItems(self.options.pairs_per_epoch), held_out_pairs(self.options)

    def build(self, config: TrainConfig, train_set: IndexItems, device: torch.device) -> Built:
        entry = get_model_entry(config.model)
        if entry.task != "flow":
            raise ConfigError(f"{config.model} is a {entry.task} model; optical flow trains one of "
                              "'cnnkit models --task flow'")
        kwargs: dict[str, Any] = {"in_chans": 6, **config.model_kwargs}
        network = create_model(config.model, **kwargs)
        multiple = getattr(network, "multiple", 64)
        if self.options.size % multiple:
            raise ConfigError(f"{config.model} takes sides that are multiples of {multiple}; set task_options.size "
                              f"to one (now {self.options.size})")
        kwargs["input_size"] = self.options.size
        network.cnnkit_kwargs = dict(kwargs)
        self.network = network
        model = network.to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
            self.memory_format = torch.channels_last
        return Built(network=network, model=model, kwargs=kwargs)

    def prepare(self, batch: Tensor, device: torch.device, generator: torch.Generator
                ) -> tuple[Tensor, tuple[Tensor, Tensor], int]:
        seeds = torch.randint(TRAINING_SEEDS, (len(batch),), generator=generator).tolist()
        pairs = [make_pair(seed, self.sources, config=self.options.scene, items=self.items) for seed in seeds]
        x, flow, valid, _ = _stack(pairs)
        return self.as_input(x.to(device)), (flow.to(device), valid.to(device)), len(pairs)

    def as_input(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=self.memory_format)

    def loss(self, model: nn.Module, output: list[Tensor], targets: tuple[Tensor, Tensor]) -> Tensor:
        flow, valid = targets
        return multiscale_epe(output, flow, valid, units=self.network.units(len(output)))

    def zero_sums(self, device: torch.device) -> dict[str, Tensor]:
        return {"epe_sum": torch.zeros((), device=device, dtype=torch.float64),
                "pixel_sum": torch.zeros((), device=device, dtype=torch.float64)}

    def add_sums(self, sums: dict[str, Tensor], output: list[Tensor], targets: tuple[Tensor, Tensor],
                 prefix: str = "") -> None:
        flow, valid = targets
        unit = self.network.units(1)[0] * FLOW_SCALE
        finest = F.interpolate(output[0].detach().float(), size=flow.shape[-2:], mode="bilinear",
                               align_corners=False) * unit
        epe = (finest - flow).pow(2).sum(1).sqrt()
        sums[f"{prefix}epe_sum"] += (epe * valid).sum().double()
        sums[f"{prefix}pixel_sum"] += valid.sum().double()

    def train_metrics(self, sums: dict[str, float], seen: int, prefix: str = "") -> dict[str, float]:
        return {f"train_{prefix}epe": sums[f"{prefix}epe_sum"] / max(sums[f"{prefix}pixel_sum"], 1)}

    def evaluate(self, model: nn.Module, test_set: list[FlowPair], *, config: TrainConfig, device: torch.device,
                 amp: torch.dtype | None, final: bool) -> FlowEvaluation:
        return evaluate_pairs(model, test_set, keep_example=final)

    def finish(self, run_dir: Path, built: Built, *, config: TrainConfig, test_set: list[FlowPair],
               evaluation: FlowEvaluation, training: dict[str, Any]) -> None:
        info = ModelInfo(
            architecture=config.model, kwargs=built.kwargs, classes=[], in_chans=6, input_size=self.options.size,
            mean=[0.0] * 6, std=[1.0] * 6, dataset=config.data, training=training, task="flow",
            task_options={"size": self.options.size, "items": self.options.items},
        )
        write_model(run_dir, built.network, info)
        from cnnkit.apps.flow.report import build_flow_report

        build_flow_report(run_dir, info=info, config=config, evaluation=evaluation, network=built.network)

    def rebuild_report(self, run_dir: Path, *, run: Any, config: TrainConfig, device: torch.device) -> Path:
        """``cnnkit report RUN``: evaluate the finished network again and rewrite its report."""
        from cnnkit.apps.flow.report import build_flow_report
        evaluation = evaluate_pairs(run.network, held_out_pairs(self.options), keep_example=True)
        return build_flow_report(run_dir, info=run.info, config=config, evaluation=evaluation, network=run.network)
