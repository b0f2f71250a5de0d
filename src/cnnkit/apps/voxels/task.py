"""Voxel networks as a Task for the one trainer: shape classification, and completion from one depth
view (Wu et al., 2015, sections 4 and 5), on the parametric solids or on a ModelNet folder.

The training set is a fixed set of shapes voxelised once and cached (solid i has class i mod 10 and
seed i; held-out solids have seeds from ``TRAINING_SEEDS`` on, which training never draws). A batch
is augmented by the 48 symmetries of the cube (axis permutations and flips: a solid's class does not
change under them). Classification learns with cross-entropy and reports accuracy. Completion sees
each shape from ``views`` seeded viewpoints (azimuth in [0, 360), elevation in [-30, 60] degrees),
back-projected to observed-occupied and observed-free channels; it learns every voxel's occupancy
with binary cross-entropy and reports voxel IoU with the full shape (probability >= 0.5) beside two
baselines: the observed voxels alone, and each observed ray's column filled to a fixed depth.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.voxels.solids import SOLIDS, make_solid
from cnnkit.apps.voxels.views import depth_view, fill_behind, seen_from
from cnnkit.apps.voxels.voxelize import INNER, voxelize
from cnnkit.data.batching import IndexItems
from cnnkit.errors import ConfigError
from cnnkit.models import create_model, get_model_entry
from cnnkit.runs.format import ModelInfo, write_model
from cnnkit.schema import Fields, options_from_dict
from cnnkit.train.config import TrainConfig
from cnnkit.train.task import Built

__all__ = ["VoxelEvaluation", "VoxelOptions", "VoxelTask", "VoxelSet", "column_baseline", "evaluate_voxels",
           "held_out_set", "modelnet_set", "solid_set", "voxel_iou",
           "symmetry", "TRAINING_SEEDS", "VOXEL_JOBS"]

TRAINING_SEEDS = 10**9
VOXEL_JOBS = ("classify", "complete")
ELEVATIONS = (-30.0, 60.0)


@dataclass(frozen=True)
class VoxelOptions:
    """config.task_options of a voxel run, every default resolved."""

    job: str = "classify"            # or "complete"
    train_shapes: int = 4000
    test_shapes: int = 500
    views: int = 2                   # completion: seeded viewpoints per training shape

    def __post_init__(self) -> None:
        f = Fields("task_options", ConfigError, hint="'cnnkit voxels train --help' gives the ranges")
        f.text("job", self.job, choices=VOXEL_JOBS)
        f.integer("train_shapes", self.train_shapes, 1, 10**6)
        f.integer("test_shapes", self.test_shapes, 1, 10**5)
        f.integer("views", self.views, 1, 64)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VoxelOptions:
        return options_from_dict(cls, values, "voxel")


@dataclass
class VoxelSet:
    """Shapes as occupancy grids (N, S, S, S) bool and labels (N,); for completion, the views' inputs
    (N, V, 2, S, S, S) bool (observed occupied, observed free) from the viewpoints each shape's seed
    draws, and for held-out shapes the column baseline's grids."""

    grids: Tensor
    labels: Tensor
    seeds: list[int]
    views: Tensor | None = None
    columns: Tensor | None = None


def symmetry(grids: Tensor, generator: torch.Generator) -> Tensor:
    """Each grid (N, C, S, S, S) under one of the cube's 48 symmetries, drawn from ``generator``."""
    out = torch.empty_like(grids)
    perms = torch.randint(6, (len(grids),), generator=generator).tolist()
    flips = torch.randint(8, (len(grids),), generator=generator).tolist()
    orders = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    for i, (p, f) in enumerate(zip(perms, flips)):
        g = grids[i].permute(0, *(1 + a for a in orders[p]))
        axes = [1 + a for a in range(3) if f >> a & 1]
        out[i] = g.flip(axes) if axes else g
    return out


def _view_angles(seed: int, count: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng([seed, 7])
    return [(float(rng.uniform(0, 360)), float(rng.uniform(*ELEVATIONS))) for _ in range(count)]


def _cache(what: dict[str, Any]) -> Path:
    from cnnkit.data.sources import cached_result

    return cached_result("voxels", {**what, "version": 2})


def _pack(x: Tensor) -> Tensor:
    return torch.from_numpy(np.packbits(x.numpy().reshape(-1)))


def _unpack(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    count = int(np.prod(shape))
    return torch.from_numpy(np.unpackbits(x.numpy())[:count].astype(bool).reshape(shape))


def _cached_set(key: dict[str, Any], meshes: list[Any], labels: Tensor, seeds: list[int], size: int,
                views: int) -> VoxelSet:
    """Voxelise ``meshes`` (callables giving a Mesh, named for errors) at ``size``^3 with ``views``
    back-projected views each (view angles from ``seeds``), or read them from the cache of ``key``."""
    from safetensors.torch import load_file, save

    from cnnkit.atomic import atomic_write_bytes

    count = len(meshes)
    cache = _cache({**key, "size": size, "views": views, "inner": INNER})
    if cache.is_file():
        stored = load_file(cache)
        grids = _unpack(stored["grids"], (count, size, size, size))
        seen = _unpack(stored["views"], (count, views, 2, size, size, size)) if views else None
        return VoxelSet(grids, stored["labels"], seeds, seen)
    grids = torch.stack([voxelize(make(), size=size, source=name) for name, make in meshes])
    seen = None
    if views:
        seen = torch.stack([torch.stack([seen_from(grids[i], a, e)[1] for a, e in _view_angles(seeds[i], views)])
                            for i in range(count)])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"grids": _pack(grids), "labels": labels}
    if seen is not None:
        tensors["views"] = _pack(seen)
    atomic_write_bytes(cache, save(tensors))
    return VoxelSet(grids, labels, seeds, seen)


def solid_set(split: str, count: int, size: int, *, views: int = 0) -> VoxelSet:
    """``count`` solids (split "train": seeds 0, 1, ...; "test": from TRAINING_SEEDS) voxelised at
    ``size``^3, with ``views`` back-projected views each; cached."""
    first = 0 if split == "train" else TRAINING_SEEDS
    meshes = [(f"solid {first + i}", lambda i=i: make_solid(SOLIDS[i % len(SOLIDS)], first + i)) for i in range(count)]
    return _cached_set({"split": split, "count": count}, meshes, torch.arange(count) % len(SOLIDS),
                       [first + i for i in range(count)], size, views)


def _file_seed(path: Path) -> int:
    """A mesh file's view seed, from its name: the same file is always seen from the same viewpoints."""
    return int(hashlib.sha256(path.name.encode()).hexdigest()[:8], 16)


def modelnet_set(root: str | Path, split: str, size: int, *, views: int = 0) -> tuple[VoxelSet, tuple[str, ...]]:
    """A ModelNet folder's split voxelised (cached by the files' names, sizes and times) and its classes."""
    from cnnkit.apps.voxels.modelnet import read_modelnet
    from cnnkit.apps.voxels.off import read_off

    found = read_modelnet(root, split)
    stamp = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in found.files]
    meshes = [(str(p), lambda p=p: read_off(p)) for p in found.files]
    seeds = [_file_seed(p) for p in found.files]
    data = _cached_set({"modelnet": stamp, "split": split}, meshes, torch.tensor(found.labels), seeds, size, views)
    return data, found.classes


def voxel_iou(predicted: Tensor, truth: Tensor) -> Tensor:
    """Intersection over union of occupied voxels, per shape: (N, ...) bool each -> (N,)."""
    p, t = predicted.flatten(1), truth.flatten(1)
    union = (p | t).sum(1)
    return torch.where(union > 0, (p & t).sum(1) / union.clamp(min=1), 1.0)


def column_baseline(test: VoxelSet, size: int, thicknesses: tuple[int, ...] = (2, 4, 6, 8, 12, 16, 24),
                    tune_on: int = 50) -> tuple[Tensor, int]:
    """The held-out shapes completed by filling each observed ray to a fixed depth behind its surface,
    at the depth of ``thicknesses`` that scores best on the first ``tune_on`` shapes (a baseline tuned
    in its favour). Returns the grids (N, S, S, S) and the depth chosen."""
    angles = [_view_angles(seed, 1)[0] for seed in test.seeds]
    depths = [depth_view(g, a, e) for g, (a, e) in zip(test.grids, angles)]

    def fill(k: int, count: int) -> Tensor:
        return torch.stack([fill_behind(d, a, e, size, k) for d, (a, e) in zip(depths[:count], angles[:count])])

    tune = min(tune_on, len(depths))
    best = max(thicknesses, key=lambda k: float(voxel_iou(fill(k, tune), test.grids[:tune]).mean()))
    return fill(best, len(depths)), best


@dataclass
class VoxelEvaluation:
    """The held-out metrics, for metrics.jsonl."""

    metrics: dict[str, float]


def held_out_set(job: str, size: int, count: int, data: str | Path | None = None) -> tuple[VoxelSet, tuple[str, ...]]:
    """The held-out shapes of a job (``count`` solids, or a ModelNet folder's test split when ``data``
    names one) with one view each and the column baseline for completion, and their classes."""
    views = 1 if job == "complete" else 0
    test, classes = (solid_set("test", count, size, views=views), SOLIDS) if data is None else \
        modelnet_set(data, "test", size, views=views)
    if job == "complete":
        test.columns, _ = column_baseline(test, size)
    return test, classes


@torch.no_grad()
def evaluate_voxels(model: nn.Module, test: VoxelSet, job: str, batch: int = 64) -> VoxelEvaluation:
    """Accuracy (classify) or voxel IoU beside the two baselines (complete) on held-out shapes."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    scores = []
    for start in range(0, len(test.grids), batch):
        grids = test.grids[start:start + batch]
        if job == "classify":
            out = model(grids[:, None].float().to(device)).cpu()
            scores.append((out.argmax(1) == test.labels[start:start + batch]).double())
        else:
            seen = test.views[start:start + batch, 0]
            out = model(seen.float().to(device)).cpu()[:, 0]
            scores.append(torch.stack([voxel_iou(out >= 0, grids).double(), voxel_iou(seen[:, 0], grids).double(),
                                       voxel_iou(test.columns[start:start + batch], grids).double()], 1))
    model.train(was)
    score = torch.cat(scores)
    if job == "classify":
        return VoxelEvaluation({"test_acc": float(score.mean())})
    return VoxelEvaluation({"test_iou": float(score[:, 0].mean()), "test_iou_observed": float(score[:, 1].mean()),
                            "test_iou_columns": float(score[:, 2].mean())})


class VoxelTask:
    """Occupancy grids in; class scores (classify) or occupancy logits (complete) out."""

    better = {"train_loss": "min", "train_acc": "max", "train_iou": "max", "test_acc": "max", "test_iou": "max",
              "test_iou_observed": "max", "test_iou_columns": "max"}

    def __init__(self, config: TrainConfig) -> None:
        self.options = VoxelOptions.from_dict(dict(config.task_options))
        if config.adversarial is not None or config.tta:
            raise ConfigError("adversarial training and tta apply to image classification, not voxels")
        if config.data not in ("solids", "modelnet"):
            raise ConfigError(f"voxel networks train on generated solids (data 'solids') or a ModelNet folder "
                              f"(data 'modelnet' with data_dir), got {config.data!r}")
        if config.data == "modelnet" and not config.data_dir:
            raise ConfigError("data 'modelnet' needs data_dir: a folder of <class>/train|test/*.off")
        self.classes: tuple[str, ...] = SOLIDS
        self.headline = "test_acc" if self.options.job == "classify" else "test_iou"
        self.train: VoxelSet | None = None
        self.size = 30
        self.network: nn.Module | None = None

    def datasets(self, config: TrainConfig, device: torch.device) -> tuple[IndexItems, VoxelSet]:
        entry = get_model_entry(config.model)
        if entry.task != "voxels":
            raise ConfigError(f"{config.model} is a {entry.task} model; voxels train one of 'cnnkit models --task voxels'")
        completing = config.model.endswith("_completion")
        if completing != (self.options.job == "complete"):
            raise ConfigError(f"{config.model} does not do the job {self.options.job!r}; "
                              f"{'shapenets3d_completion completes' if not completing else 'it completes shapes'}")
        self.size = entry.input_size
        views = self.options.views if self.options.job == "complete" else 0
        if config.data == "modelnet":
            self.train, self.classes = modelnet_set(config.data_dir, "train", self.size, views=views)
        else:
            self.train = solid_set("train", self.options.train_shapes, self.size, views=views)
        test, _ = held_out_set(self.options.job, self.size, self.options.test_shapes, self._folder(config))
        return IndexItems(len(self.train.grids)), test

    @staticmethod
    def _folder(config: TrainConfig) -> str | None:
        return config.data_dir if config.data == "modelnet" else None

    def build(self, config: TrainConfig, train_set: IndexItems, device: torch.device) -> Built:
        kwargs: dict[str, Any] = dict(config.model_kwargs)
        if self.options.job == "classify":
            kwargs = {"num_classes": len(self.classes), **kwargs}
        if config.dropout is not None and self.options.job == "classify":
            kwargs["dropout"] = config.dropout
        network = create_model(config.model, **kwargs)
        network.cnnkit_kwargs = dict(kwargs)
        self.network = network
        return Built(network=network, model=network.to(device), kwargs=kwargs)

    def prepare(self, batch: Tensor, device: torch.device, generator: torch.Generator
                ) -> tuple[Tensor, Tensor, int]:
        grids = self.train.grids[batch][:, None]
        if self.options.job == "classify":
            x = symmetry(grids, generator).float()
            return x.to(device), self.train.labels[batch].to(device), len(batch)
        pick = torch.randint(self.train.views.shape[1], (len(batch),), generator=generator)
        seen = self.train.views[batch, pick]                                     # (N, 2, S, S, S)
        both = symmetry(torch.cat([seen, grids], 1), generator)                  # one symmetry for input and target
        return both[:, :2].float().to(device), both[:, 2:].float().to(device), len(batch)

    def as_input(self, x: Tensor) -> Tensor:
        return x

    def loss(self, model: nn.Module, output: Tensor, targets: Tensor) -> Tensor:
        if self.options.job == "classify":
            return F.cross_entropy(output.float(), targets)
        return F.binary_cross_entropy_with_logits(output.float(), targets)

    def zero_sums(self, device: torch.device) -> dict[str, Tensor]:
        return {"score": torch.zeros((), device=device, dtype=torch.float64)}

    def add_sums(self, sums: dict[str, Tensor], output: Tensor, targets: Tensor, prefix: str = "") -> None:
        if self.options.job == "classify":
            sums[f"{prefix}score"] += (output.detach().argmax(1) == targets).sum().double()
        else:
            sums[f"{prefix}score"] += voxel_iou(output.detach() >= 0, targets > 0.5).sum().double()

    def train_metrics(self, sums: dict[str, float], seen: int, prefix: str = "") -> dict[str, float]:
        name = "acc" if self.options.job == "classify" else "iou"
        return {f"train_{prefix}{name}": sums[f"{prefix}score"] / max(seen, 1)}

    def evaluate(self, model: nn.Module, test_set: VoxelSet, *, config: TrainConfig, device: torch.device,
                 amp: torch.dtype | None, final: bool) -> VoxelEvaluation:
        return evaluate_voxels(model, test_set, self.options.job)

    def finish(self, run_dir: Path, built: Built, *, config: TrainConfig, test_set: VoxelSet,
               evaluation: VoxelEvaluation, training: dict[str, Any]) -> None:
        classes = list(self.classes) if self.options.job == "classify" else []
        in_chans = 1 if self.options.job == "classify" else 2
        info = ModelInfo(architecture=config.model, kwargs=built.kwargs, classes=classes, in_chans=in_chans,
                         input_size=self.size, mean=[0.0] * in_chans, std=[1.0] * in_chans, dataset=config.data,
                         training=training, task="voxels",
                         task_options={"job": self.options.job})
        write_model(run_dir, built.network, info)
        from cnnkit.apps.voxels.report import build_voxel_report

        build_voxel_report(run_dir, info=info, config=config, evaluation=evaluation, test=test_set, network=built.network)

    def rebuild_report(self, run_dir: Path, *, run: Any, config: TrainConfig, device: torch.device) -> Path:
        """``cnnkit report RUN``: evaluate the finished network again and rewrite its report."""
        from cnnkit.apps.voxels.report import build_voxel_report

        test, _ = held_out_set(self.options.job, run.info.input_size, self.options.test_shapes, self._folder(config))
        return build_voxel_report(run_dir, info=run.info, config=config, test=test, network=run.network,
                                  evaluation=evaluate_voxels(run.network, test, self.options.job))
