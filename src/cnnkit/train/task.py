"""What a run learns: the Task protocol, and classification, the first Task; fit() is the same for all.

The trainer (train/trainer.py) owns the loop, its order, checkpoints, exact resume and torchrun;
a Task owns everything that depends on the problem: the data and the model it builds for a
config, how a batch is unpacked, moved and augmented, the loss, the metrics (named, with the
better direction, summed over a whole evaluation so mAP or whole-image PSNR work), what
model.json records and the report. Super-resolution, optical flow, detection and voxels each
add one Task, never an edit of the trainer.

Classification: cross-entropy with optional label smoothing (Szegedy et al., 2016,
arXiv:1512.00567) and top-1 accuracy. A network that defines its own ``paper_loss(output,
target)`` (``lenet5_1998``: the RBF loss of LeCun et al., 1998, eq. 9) trains with that instead.
Auxiliary classifiers (GoogLeNet, Szegedy et al., 2015, arXiv:1409.4842): a model whose forward
leaves ``aux_logits`` (a tuple of (N, classes) tensors) on itself in training mode gets their
cross-entropy added to the loss with weight 0.3, as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.data import Dataset, load_dataset
from cnnkit.data.augment import augment_batch, to_float
from cnnkit.data.memory import MemoryDataset
from cnnkit.errors import ConfigError
from cnnkit.layers import Normalize
from cnnkit.layers.reference import use_reference_ops
from cnnkit.models import create_model, get_model_entry
from cnnkit.models._registry import task_factory, task_names
from cnnkit.train.config import TrainConfig
from cnnkit.runs.evaluation import Evaluation, evaluate
from cnnkit.runs.format import ModelInfo, write_model
from cnnkit.train.report import MISTAKES_SHOWN, build_report

__all__ = ["Built", "ClassificationTask", "Task", "aux_logits", "classification_task", "task_for", "task_from_config"]


@dataclass(frozen=True)
class Built:
    """What a Task builds for a run: the ``network`` model.safetensors holds, and the ``model`` trained
    (the network behind its input layer, on the device); ``kwargs`` rebuild the network."""

    network: nn.Module
    model: nn.Module
    kwargs: dict[str, Any]


class Task(Protocol):
    """The problem a run learns; the trainer calls these members and nothing else of it.

    Sums are scalar tensors on the device, added per batch and all-reduced at the epoch's end
    (and saved in every checkpoint, so a resumed epoch's metrics are exact); the evaluation
    sums over the whole test set itself. ``better`` maps each metric to "max" or "min".
    """

    # A Task other than classification also has rebuild_report(run_dir, *, run, config, device) -> Path,
    # which ``cnnkit report RUN`` calls.

    better: dict[str, str]
    headline: str                   # the metric the progress bar and FitResult show, e.g. "test_acc"

    def datasets(self, config: TrainConfig, device: torch.device) -> tuple[Dataset, Dataset]:
        """The training and the test set ``config`` names (compact until batched; on ``device`` if they fit)."""
        ...

    def build(self, config: TrainConfig, train_set: Dataset, device: torch.device) -> Built:
        """The network for ``train_set``, ready to train on ``device``."""
        ...

    def prepare(self, batch: Any, device: torch.device, generator: torch.Generator) -> tuple[Any, Any, int]:
        """(inputs, targets, examples) of a batch on ``device``, augmented with ``generator`` if the run augments."""
        ...

    def as_input(self, x: Tensor) -> Tensor:
        """A perturbed input (adversarial training) in the memory layout ``prepare`` gives the model."""
        ...

    def loss(self, model: nn.Module, output: Any, targets: Any) -> Tensor:
        """The batch's mean loss, a scalar with gradient; ``model`` is the bare model (for auxiliary outputs)."""
        ...

    def zero_sums(self, device: torch.device) -> dict[str, Tensor]:
        """The training metrics' running sums at an epoch's start, e.g. {"score_sum": 0}."""
        ...

    def add_sums(self, sums: dict[str, Tensor], output: Any, targets: Any, prefix: str = "") -> None:
        """Add a batch's output to ``sums`` (keys ``prefix + name``; "adv_" for adversarial examples)."""
        ...

    def train_metrics(self, sums: dict[str, float], seen: int, prefix: str = "") -> dict[str, float]:
        """The epoch's training metrics from the all-reduced sums, e.g. {"train_acc": 0.91}."""
        ...

    def evaluate(self, model: nn.Module, test_set: Dataset, *, config: TrainConfig, device: torch.device,
                 amp: torch.dtype | None, final: bool) -> Any:
        """The test-set evaluation (its ``metrics`` dict goes into metrics.jsonl); ``final`` keeps what the report shows."""
        ...

    def finish(self, run_dir: Path, built: Built, *, config: TrainConfig, test_set: Dataset, evaluation: Any,
               training: dict[str, Any]) -> None:
        """Write model.json, model.safetensors and the report of the finished run."""
        ...


def aux_logits(model: nn.Module) -> tuple[Tensor, ...] | None:
    """The auxiliary logits the last training forward left on ``model`` or a submodule; None if there are none."""
    for module in model.modules():
        found = getattr(module, "aux_logits", None)
        if found is not None:
            return tuple(found)
    return None


@dataclass(frozen=True)
class ClassificationLoss:
    """Cross-entropy (or the network's own ``criterion``), plus 0.3 x each auxiliary head's cross-entropy."""

    label_smoothing: float = 0.0
    criterion: Callable[[Tensor, Tensor], Tensor] | None = None  # replaces cross-entropy
    aux_weight: float = 0.3    # weight of each auxiliary classifier's loss (Szegedy et al., 2015)

    def loss(self, output: Tensor, target: Tensor, aux: Sequence[Tensor] | None = None) -> Tensor:
        """Mean loss of the batch (a scalar with gradient), plus aux_weight x each auxiliary head's loss."""
        if self.criterion is not None:
            return self.criterion(output, target)
        smoothing = self.label_smoothing
        loss = F.cross_entropy(output.float(), target, label_smoothing=smoothing)
        for logits in aux or ():
            loss = loss + self.aux_weight * F.cross_entropy(logits.float(), target, label_smoothing=smoothing)
        return loss

    def score(self, output: Tensor, target: Tensor) -> Tensor:
        """Sum over the batch of the metric (correct predictions), as a scalar tensor."""
        return (output.argmax(1) == target).sum()


def task_for(network: nn.Module, *, label_smoothing: float = 0.0) -> ClassificationLoss:
    """The loss for ``network``: its ``paper_loss`` when it defines one, else cross-entropy."""
    paper_loss = getattr(network, "paper_loss", None)
    if paper_loss is None:
        return ClassificationLoss(label_smoothing=label_smoothing)
    if label_smoothing:
        name = getattr(network, "cnnkit_name", type(network).__name__)
        raise ConfigError(f"{name} trains with its paper's loss, to which label smoothing does not apply; "
                          "drop --label-smoothing")
    return ClassificationLoss(criterion=paper_loss)


class ClassificationTask:
    """Images and class labels: a registered model behind Normalize, cross-entropy, top-1 accuracy."""

    better = {"train_loss": "min", "train_acc": "max", "train_adv_acc": "max", "test_loss": "min", "test_acc": "max"}
    headline = "test_acc"

    def __init__(self) -> None:
        self.spec: Any = None
        self.augment = False
        self.memory_format = torch.contiguous_format
        self.criterion = ClassificationLoss()
        self.has_aux = False

    def datasets(self, config: TrainConfig, device: torch.device) -> tuple[Dataset, Dataset]:
        get_model_entry(config.model)  # an unknown model fails before any data is read
        options = {"data_dir": config.data_dir, "image_size": config.image_size,
                   "train_per_class": config.train_per_class, "num_workers": config.num_workers, "seed": config.seed}
        train_set = load_dataset(config.data, "train", **options)
        test_set = load_dataset(config.data, "test", **options)
        if device.type == "cuda" and isinstance(train_set, MemoryDataset):  # on the GPU once: no copies per batch
            train_set, test_set = train_set.to(device), test_set.to(device)
        if config.tta and not train_set.spec.hflip:
            raise ConfigError(f"tta (--tta) flips images, which changes the class in {config.data}; set it off")
        return train_set, test_set

    def build(self, config: TrainConfig, train_set: Dataset, device: torch.device) -> Built:
        spec = self.spec = train_set.spec
        kwargs = {"num_classes": spec.num_classes, "in_chans": spec.in_chans, "input_size": spec.image_size[0]}
        kwargs.update(config.model_kwargs)
        if config.dropout is not None:
            kwargs["dropout"] = config.dropout
        network = create_model(config.model, **kwargs)
        if config.reference_ops:  # the lecture's operators; same parameters, same state dict
            network = use_reference_ops(network)
        model = nn.Sequential(Normalize(spec.mean, spec.std), network).to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
            self.memory_format = torch.channels_last
        self.augment = config.augment
        self.criterion = task_for(network, label_smoothing=config.label_smoothing)
        self.has_aux = any(hasattr(m, "aux_logits") for m in model.modules())  # GoogLeNet's aux heads
        return Built(network=network, model=model, kwargs=kwargs)

    def prepare(self, batch: Any, device: torch.device, generator: torch.Generator) -> tuple[Tensor, Tensor, int]:
        images, labels = batch
        x = to_float(images.to(device, non_blocking=True))  # (N, C, H, W) in [0, 1]
        y = labels.to(device, non_blocking=True)
        if self.augment:
            x = augment_batch(x, self.spec, generator)
        return self.as_input(x), y, len(y)

    def as_input(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=self.memory_format)

    def loss(self, model: nn.Module, output: Tensor, targets: Tensor) -> Tensor:
        return self.criterion.loss(output, targets, aux=aux_logits(model) if self.has_aux else None)

    def zero_sums(self, device: torch.device) -> dict[str, Tensor]:
        return {"score_sum": torch.zeros((), device=device, dtype=torch.int64)}

    def add_sums(self, sums: dict[str, Tensor], output: Tensor, targets: Tensor, prefix: str = "") -> None:
        sums[f"{prefix}score_sum"] += self.criterion.score(output.detach(), targets)

    def train_metrics(self, sums: dict[str, float], seen: int, prefix: str = "") -> dict[str, float]:
        return {f"train_{prefix}acc": sums[f"{prefix}score_sum"] / seen}

    def evaluate(self, model: nn.Module, test_set: Dataset, *, config: TrainConfig, device: torch.device,
                 amp: torch.dtype | None, final: bool) -> Evaluation:
        return evaluate(model, test_set, device=device, tta=config.tta, amp=amp,
                        channels_last=config.channels_last, keep_wrong=MISTAKES_SHOWN if final else 0)

    def finish(self, run_dir: Path, built: Built, *, config: TrainConfig, test_set: Dataset,
               evaluation: Evaluation, training: dict[str, Any]) -> None:
        spec = self.spec
        info = ModelInfo(
            architecture=config.model, kwargs=built.kwargs, classes=list(spec.classes), in_chans=spec.in_chans,
            input_size=spec.image_size[0], mean=list(spec.mean), std=list(spec.std), dataset=config.data,
            training=training,
        )
        write_model(run_dir, built.network, info)
        build_report(run_dir, model=built.model, info=info, config=config, test_set=test_set, evaluation=evaluation)



def task_from_config(config: TrainConfig) -> Task:
    """The Task ``config.task`` names (the registry maps names to factories), so that config.json alone
    re-runs or resumes any run."""
    factory = task_factory(config.task)
    if factory is None:
        raise ConfigError(f"task (config.json's task) {config.task!r} is unknown; choose one of {', '.join(task_names())}")
    return factory(config)


def classification_task(config: TrainConfig) -> ClassificationTask:
    """The Task of ``config.task == "classification"``, which takes no task_options."""
    if config.task_options:
        raise ConfigError(f"classification takes no task_options, got {', '.join(sorted(config.task_options))}; "
                          "remove them from config.json")
    return ClassificationTask()
