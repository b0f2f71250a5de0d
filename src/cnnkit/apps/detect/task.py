"""Detection as a Task for the one trainer: R-CNN's fine-tuning and Fast R-CNN's training on the
synthetic scenes (scenes.py), both from the same sampled regions.

Training images are a fixed set of generated scenes (seeds 0 .. train_images - 1, scikit-image's
training photographs, Fashion-MNIST's training items) whose selective-search proposals are computed
once and cached. A batch is ``batch_size`` images; from their proposals and true boxes it samples
``regions`` regions, a quarter positive (IoU >= 0.5 with a true box: that box's class and its
regression target) and the rest background (IoU < 0.5), R-CNN's 32 and 96 of 128 (Fast R-CNN: 25%
of 64 per image, background from IoU 0.1 on; here one rule for both). Images flip left-right at
random. The loss is Fast R-CNN's multi-task loss: cross-entropy over K + 1 classes plus the smooth
L1 loss of the true class's box deltas on the positives. The held-out scenes use other photographs,
Fashion-MNIST's test items and seeds from ``TRAINING_SEEDS`` on; the evaluation reports VOC mAP at
IoU 0.5 and COCO mAP@[.5:.95].

With ``data`` "annotations" (``data_dir`` a PASCAL VOC folder or a COCO file) the same recipe trains
on the user's annotated images instead: a seeded ``test_fraction`` of them is held out, the classes
are the annotations', images load from disk per batch, and a batch's images are padded to one size.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.detect.annotations import Annotation, read_annotated
from cnnkit.apps.detect.boxes import box_iou, encode_boxes
from cnnkit.apps.detect.files import read_rgb
from cnnkit.apps.detect.inference import detect_image, normalise
from cnnkit.apps.detect.metrics import Detections, GroundTruth, coco_average_precision, voc_average_precision
from cnnkit.apps.detect.proposals import selective_search
from cnnkit.apps.detect.scenes import CLASSES, DetectionSceneConfig, Scene, items_by_class, make_scene
from cnnkit.data.batching import IndexItems
from cnnkit.errors import ConfigError, CorruptDataError, DataError
from cnnkit.models import create_model, get_model_entry
from cnnkit.runs.format import ModelInfo, write_model
from cnnkit.schema import Fields, options_from_dict
from cnnkit.train.config import TrainConfig
from cnnkit.train.task import Built

__all__ = ["AnnotatedScenes", "DetectOptions", "DetectTask", "DetectEvaluation", "SceneSet", "annotated_sets",
           "sample_regions", "scene_set",
           "evaluate_detector", "TRAINING_SEEDS"]

TRAINING_SEEDS = 10**9       # training scenes take seeds below this; held-out scenes start at it
POSITIVE_IOU = 0.5


@dataclass(frozen=True)
class DetectOptions:
    """config.task_options of a detection run, every default resolved."""

    size: int = 128
    train_images: int = 2000
    test_images: int = 200
    regions: int = 128               # regions sampled per batch (R-CNN: 128)
    positive_fraction: float = 0.25  # of them positive (R-CNN: 32 of 128)
    items: str = "fashion-mnist"     # Fashion-MNIST items among the objects, or "none" (shapes only)
    images: str = ""                 # annotated data: the folder of a COCO file's images ("": beside it)
    test_fraction: float = 0.1       # annotated data: the share held out for evaluation (seeded)

    def __post_init__(self) -> None:
        f = Fields("task_options", ConfigError, hint="'cnnkit detect train --help' gives the ranges")
        f.integer("size", self.size, 32, 2048)
        f.integer("train_images", self.train_images, 1, 10**7)
        f.integer("test_images", self.test_images, 1, 100_000)
        f.integer("regions", self.regions, 2, 100_000)
        f.number("positive_fraction", self.positive_fraction, 0, 1, open_lo=True)
        f.number("test_fraction", self.test_fraction, 0, 0.9, open_lo=True)
        if self.images:
            f.text("images", self.images, max_len=4096)
        if self.items not in ("fashion-mnist", "none"):
            raise ConfigError(f"task_options.items must be 'fashion-mnist' or 'none', got {self.items!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DetectOptions:
        return options_from_dict(cls, values, "detection")

    @property
    def scene(self) -> DetectionSceneConfig:
        return DetectionSceneConfig(size=(self.size, self.size), side=(max(8, self.size * 5 // 32), self.size // 2))


@dataclass
class SceneSet:
    """Scenes (generated, or annotated images read on access) and their proposals (P_i, 4) each."""

    scenes: Sequence[Scene]
    proposals: list[Tensor]


class AnnotatedScenes(Sequence):
    """Annotated images as Scenes, each image read from its file when it is asked for."""

    def __init__(self, annotations: list[Annotation]) -> None:
        self.annotations = annotations

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, index: int) -> Scene:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        a = self.annotations[index]
        image = read_rgb(a.image)
        if tuple(image.shape[-2:]) != a.size:
            raise CorruptDataError(f"{a.image}: the image is {image.shape[2]}x{image.shape[1]} pixels but its "
                                   f"annotation says {a.size[1]}x{a.size[0]}")
        return Scene(image, a.boxes, a.labels, a.difficult)


def annotated_sets(data: str, options: DetectOptions, *, threads: int = 2) -> tuple[SceneSet, SceneSet, tuple[str, ...]]:
    """A training and a held-out set from annotated images (a seeded ``test_fraction`` held out), with
    proposals cached by the files' names, sizes and times, and the class list."""
    annotations, classes = read_annotated(data, options.images or None)
    if len(annotations) < 2:
        raise DataError(f"{data}: {len(annotations)} annotated image(s); training needs at least 2")
    order = torch.randperm(len(annotations), generator=torch.Generator().manual_seed(0)).tolist()
    held = max(1, round(len(annotations) * options.test_fraction))
    sets = []
    for part in (order[held:], order[:held]):
        chosen = [annotations[i] for i in sorted(part)]
        scenes = AnnotatedScenes(chosen)
        stamp = [(str(a.image.resolve()), a.image.stat().st_size, a.image.stat().st_mtime_ns) if a.image.is_file()
                 else (str(a.image),) for a in chosen]
        sets.append(SceneSet(scenes, _proposals(scenes, _cache_key({"files": stamp}), threads)))
    return sets[0], sets[1], classes


def _items(options: DetectOptions, split: str) -> dict[str, Tensor] | None:
    if options.items == "none":
        return None
    from cnnkit.data.catalog import load_dataset

    data = load_dataset("fashion-mnist", split, download=False)
    return items_by_class(data.images, data.labels)


def _cache_key(what: dict[str, Any]) -> Path:
    import cv2

    from cnnkit.data.sources import cached_result

    return cached_result("detect", {**what, "opencv": cv2.__version__, "proposals": "fast-2000", "version": 1})


def _cache_file(options: DetectOptions, split: str, first: int, count: int) -> Path:
    return _cache_key({"scene": repr(options.scene), "items": options.items, "split": split, "first": first,
                       "count": count})


def _proposals(scenes: Sequence[Scene], cache: Path, threads: int) -> list[Tensor]:
    """Selective search of every scene, read from ``cache`` when it was computed before."""
    from safetensors.torch import load_file, save

    from cnnkit.atomic import atomic_write_bytes

    if cache.is_file():
        stored = load_file(cache)
        return list(torch.split(stored["boxes"], stored["counts"].tolist()))
    with ThreadPoolExecutor(max(1, threads)) as pool:   # OpenCV releases the GIL while it segments
        found = list(pool.map(lambda i: selective_search(scenes[i].image), range(len(scenes))))
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cache, save({"boxes": torch.cat(found).contiguous(),
                                    "counts": torch.tensor([len(b) for b in found])}))
    return found


def scene_set(options: DetectOptions, split: str, *, threads: int = 2) -> SceneSet:
    """The training scenes (``split`` "train") or the held-out ones ("test"), with their proposals."""
    from cnnkit.apps.flow.task import scene_sources
    from cnnkit.apps.superres.photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS

    photos = scene_sources(TRAIN_PHOTOS if split == "train" else HELD_OUT_PHOTOS)
    items = _items(options, split)
    first, count = (0, options.train_images) if split == "train" else (TRAINING_SEEDS, options.test_images)
    scenes = [make_scene(first + i, photos, items, config=options.scene) for i in range(count)]
    return SceneSet(scenes, _proposals(scenes, _cache_file(options, split, first, count), threads))


def sample_regions(proposals: list[Tensor], truths: list[Scene], count: int, positive_fraction: float,
                   generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """R-CNN's sampling over a batch of images: ``count`` regions (R, 5: image index, box), about
    ``positive_fraction`` of them positive, with labels (R,) (0: background) and regression
    targets (R, 4) (zero for background). The true boxes count among the candidates, as in R-CNN."""
    rois, labels, targets = [], [], []
    for i, (boxes, scene) in enumerate(zip(proposals, truths)):
        candidates = torch.cat([scene.boxes, boxes]) if len(scene.boxes) else boxes
        if len(candidates) == 0:
            continue
        if len(scene.boxes):
            iou = box_iou(candidates, scene.boxes)
            best, match = iou.max(1)
            positive = best >= POSITIVE_IOU
            label = torch.where(positive, scene.labels[match] + 1, 0)
            target = torch.where(positive[:, None], encode_boxes(candidates, scene.boxes[match]), 0.0)
        else:
            label = torch.zeros(len(candidates), dtype=torch.long)
            target = torch.zeros(len(candidates), 4)
        rois.append(torch.cat([torch.full((len(candidates), 1), float(i)), candidates], 1))
        labels.append(label)
        targets.append(target)
    rois, labels, targets = torch.cat(rois), torch.cat(labels), torch.cat(targets)
    positives = torch.nonzero(labels > 0).flatten()
    negatives = torch.nonzero(labels == 0).flatten()
    wanted = min(len(positives), round(count * positive_fraction))
    positives = positives[torch.randperm(len(positives), generator=generator)[:wanted]]
    # too few background regions: draw them again (with replacement) so every batch has ``count``
    rest = count - wanted
    if len(negatives) >= rest:
        negatives = negatives[torch.randperm(len(negatives), generator=generator)[:rest]]
    elif len(negatives):
        negatives = negatives[torch.randint(len(negatives), (rest,), generator=generator)]
    chosen = torch.cat([positives, negatives])
    return rois[chosen], labels[chosen], targets[chosen]


@dataclass
class DetectEvaluation:
    """mAP on the held-out scenes: ``metrics`` for metrics.jsonl, per-class AP and the detections kept."""

    metrics: dict[str, float]
    per_class: dict[str, float]
    detections: list[Detections]


def evaluate_detector(model: nn.Module, test: SceneSet, *, score_threshold: float = 0.05,
                      classes: Sequence[str] = CLASSES) -> DetectEvaluation:
    """Detect every held-out scene from its proposals; VOC AP at 0.5 (all-point) and COCO mAP."""
    found, truths = [], []
    for s, p in zip(test.scenes, test.proposals):
        found.append(detect_image(model, s.image, p, score_threshold=score_threshold))
        truths.append(GroundTruth(s.boxes, s.labels, s.difficult))
    num_classes = model.num_classes
    voc = voc_average_precision(found, truths, num_classes)
    coco = coco_average_precision(found, truths, num_classes)
    metrics = {"test_map50": float(np.nanmean(voc)), "test_map": float(np.nanmean(coco)),
               "test_map75": float(np.nanmean(coco[5]))}
    return DetectEvaluation(metrics, {classes[c]: float(voc[c]) for c in range(num_classes)}, found)


def _flip(scene: Scene, proposals: Tensor) -> tuple[Scene, Tensor]:
    width = scene.image.shape[-1]

    def mirror(boxes: Tensor) -> Tensor:
        return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)

    return Scene(scene.image.flip(-1), mirror(scene.boxes), scene.labels, scene.difficult), mirror(proposals)


class DetectTask:
    """Scenes in, region scores and box deltas out; the multi-task loss; mAP on held-out scenes."""

    better = {"train_loss": "min", "train_acc": "max", "test_map50": "max", "test_map": "max", "test_map75": "max"}
    headline = "test_map50"

    def __init__(self, config: TrainConfig) -> None:
        self.options = DetectOptions.from_dict(dict(config.task_options))
        if config.adversarial is not None or config.tta:
            raise ConfigError("adversarial training and tta apply to classification, not detection")
        if config.data not in ("scenes", "annotations"):
            raise ConfigError(f"detection trains on generated scenes (data 'scenes') or on annotated images (data "
                              f"'annotations' with data_dir a VOC folder or a COCO file), got {config.data!r}")
        if config.data == "annotations" and not config.data_dir:
            raise ConfigError("data 'annotations' needs data_dir: a PASCAL VOC folder or a COCO .json file")
        self.classes: tuple[str, ...] = CLASSES
        self.train: SceneSet | None = None
        self.network: nn.Module | None = None

    def datasets(self, config: TrainConfig, device: torch.device) -> tuple[IndexItems, SceneSet]:
        if config.data == "annotations":
            self.train, test, self.classes = annotated_sets(config.data_dir, self.options, threads=config.threads or 2)
        else:
            self.train = scene_set(self.options, "train", threads=config.threads or 2)
            test = scene_set(self.options, "test", threads=config.threads or 2)
        return IndexItems(len(self.train.scenes)), test

    def build(self, config: TrainConfig, train_set: IndexItems, device: torch.device) -> Built:
        entry = get_model_entry(config.model)
        if entry.task != "detect":
            raise ConfigError(f"{config.model} is a {entry.task} model; detection trains one of "
                              "'cnnkit models --task detect'")
        kwargs: dict[str, Any] = {"num_classes": len(self.classes), **config.model_kwargs}
        network = create_model(config.model, **kwargs)
        network.cnnkit_kwargs = dict(kwargs)
        self.network = network
        return Built(network=network, model=network.to(device), kwargs=kwargs)

    def prepare(self, batch: Tensor, device: torch.device, generator: torch.Generator
                ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], int]:
        scenes, proposals = [], []
        flips = torch.rand(len(batch), generator=generator) < 0.5
        for index, flip in zip(batch.tolist(), flips.tolist()):
            scene, boxes = self.train.scenes[index], self.train.proposals[index]
            if flip:
                scene, boxes = _flip(scene, boxes)
            kept = ~scene.difficult   # as Fast R-CNN trains: difficult objects left out
            scenes.append(Scene(scene.image, scene.boxes[kept], scene.labels[kept]))
            proposals.append(boxes)
        rois, labels, targets = sample_regions(proposals, scenes, self.options.regions,
                                               self.options.positive_fraction, generator)
        height = max(s.image.shape[1] for s in scenes)
        width = max(s.image.shape[2] for s in scenes)   # images of other sizes padded with the mean (0)
        images = torch.stack([F.pad(normalise(s.image), (0, width - s.image.shape[2], 0, height - s.image.shape[1]))
                              for s in scenes])
        return (images.to(device), rois.to(device)), (labels.to(device), targets.to(device)), len(labels)

    def as_input(self, x: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return x

    def loss(self, model: nn.Module, output: tuple[Tensor, Tensor], targets: tuple[Tensor, Tensor]) -> Tensor:
        """Fast R-CNN's multi-task loss: L_cls + [u >= 1] L_loc (smooth L1 of the true class's deltas)."""
        logits, deltas = output
        labels, boxes = targets
        classification = F.cross_entropy(logits.float(), labels)
        positive = labels > 0
        if not positive.any():
            return classification + 0.0 * deltas.sum()
        chosen = deltas[positive, labels[positive] - 1].float()
        localisation = F.smooth_l1_loss(chosen, boxes[positive], beta=1.0, reduction="sum") / len(labels)
        return classification + localisation

    def zero_sums(self, device: torch.device) -> dict[str, Tensor]:
        return {"correct": torch.zeros((), device=device, dtype=torch.float64)}

    def add_sums(self, sums: dict[str, Tensor], output: tuple[Tensor, Tensor], targets: tuple[Tensor, Tensor],
                 prefix: str = "") -> None:
        sums[f"{prefix}correct"] += (output[0].detach().argmax(1) == targets[0]).sum().double()

    def train_metrics(self, sums: dict[str, float], seen: int, prefix: str = "") -> dict[str, float]:
        return {f"train_{prefix}acc": sums[f"{prefix}correct"] / max(seen, 1)}

    def evaluate(self, model: nn.Module, test_set: SceneSet, *, config: TrainConfig, device: torch.device,
                 amp: torch.dtype | None, final: bool) -> DetectEvaluation:
        return evaluate_detector(model, test_set, classes=self.classes)

    def finish(self, run_dir: Path, built: Built, *, config: TrainConfig, test_set: SceneSet,
               evaluation: DetectEvaluation, training: dict[str, Any]) -> None:
        info = ModelInfo(
            architecture=config.model, kwargs=built.kwargs, classes=list(self.classes), in_chans=3,
            input_size=self.options.size, mean=[0.5] * 3, std=[0.25] * 3, dataset=config.data, training=training,
            task="detect", task_options={"size": self.options.size, "items": self.options.items},
        )
        write_model(run_dir, built.network, info)
        from cnnkit.apps.detect.report import build_detect_report

        build_detect_report(run_dir, info=info, config=config, evaluation=evaluation, test=test_set)

    def rebuild_report(self, run_dir: Path, *, run: Any, config: TrainConfig, device: torch.device) -> Path:
        """``cnnkit report RUN``: evaluate the finished detector again and rewrite its report."""
        from cnnkit.apps.detect.report import build_detect_report

        if config.data == "annotations":
            _, test, self.classes = annotated_sets(config.data_dir, self.options, threads=config.threads or 2)
        else:
            test = scene_set(self.options, "test", threads=config.threads or 2)
        evaluation = evaluate_detector(run.network, test, classes=self.classes)
        return build_detect_report(run_dir, info=run.info, config=config, evaluation=evaluation, test=test)
