"""fit(): the training loop of every cnnkit run, from a TrainConfig to a finished run directory.

The data stay uint8 tensors until a batch is drawn; conversion to float, augmentation
(random crop with padding, horizontal flip) and normalisation work on whole batches, as in
the speed-run training scripts (Jordan, 2024, arXiv:2404.00498). The normalisation is the
first layer of the model, so the saved model takes pixels in [0, 1] like every other
cnnkit function.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnkit.atomic import atomic_write_text
from cnnkit.data import load_dataset
from cnnkit.data.augment import augment_batch, to_float
from cnnkit.data.memory import MemoryDataset
from cnnkit.errors import CnnkitError, ConfigError
from cnnkit.layers import Normalize
from cnnkit.models import create_model, get_model_entry
from cnnkit.train.config import TrainConfig
from cnnkit.train.device import resolve_amp, resolve_device
from cnnkit.train.evaluate import Evaluation, evaluate
from cnnkit.train.optim import make_optimizer
from cnnkit.train.progress import TrainProgress
from cnnkit.train.report import MISTAKES_SHOWN, build_report
from cnnkit.train.rundir import (
    CONFIG_FILE,
    REPORT_FILE,
    ModelInfo,
    append_metrics,
    finish_run_dir,
    prepare_run_dir,
    save_model,
)
from cnnkit.train.schedule import make_scheduler
from cnnkit.train.task import ClassificationTask

__all__ = ["FitResult", "fit", "TrainingDiverged"]


class TrainingDiverged(CnnkitError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class FitResult:
    """Where a finished run lives and how it ended."""

    run_dir: Path
    report: Path
    test_acc: float
    seconds: float


@contextlib.contextmanager
def _torch_settings(threads: int | None, device: torch.device) -> Iterator[None]:
    """Threads and deterministic algorithms for the run; the caller's settings come back after.

    Deterministic algorithms are enabled on the CPU only: there the same config and seed give
    bitwise-identical weights. On CUDA several backward kernels (adaptive max-pool, scatter)
    have no deterministic version, so GPU runs are repeatable only up to float rounding.
    """
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if threads is not None:
        torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_deterministic, warn_only=old_warn)


def _model_kwargs(config: TrainConfig, num_classes: int, in_chans: int, input_size: int) -> dict:
    kwargs = {"num_classes": num_classes, "in_chans": in_chans, "input_size": input_size}
    kwargs.update(config.model_kwargs)
    if config.dropout is not None:
        kwargs["dropout"] = config.dropout
    return kwargs


def _default_name(config: TrainConfig, out: Path) -> str:
    stem = f"{config.model}-{config.data}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = stem, 1
    while (out / name).exists() or (out / f".{name}.partial").exists():
        n += 1
        name = f"{stem}-{n}"
    return name


def fit(config: TrainConfig, *, progress: bool = True) -> FitResult:
    """Train ``config.model`` on ``config.data`` and write a complete run directory."""
    started = time.perf_counter()
    get_model_entry(config.model)  # an unknown model fails before any data is read
    device = resolve_device(config.device)
    amp = resolve_amp(config.amp, device)
    with _torch_settings(config.threads, device):
        torch.manual_seed(config.seed)
        data_options = {
            "data_dir": config.data_dir,
            "image_size": config.image_size,
            "train_per_class": config.train_per_class,
            "num_workers": config.num_workers,
            "seed": config.seed,
        }
        train_set = load_dataset(config.data, "train", **data_options)
        test_set = load_dataset(config.data, "test", **data_options)
        if device.type == "cuda" and isinstance(train_set, MemoryDataset):
            train_set, test_set = train_set.to(device), test_set.to(device)
        data_seconds = time.perf_counter() - started
        spec = train_set.spec
        if config.tta and not spec.hflip:
            raise ConfigError(f"--tta flips images, which changes the class in {config.data}; drop --tta")

        kwargs = _model_kwargs(config, spec.num_classes, spec.in_chans, spec.image_size[0])
        network = create_model(config.model, **kwargs)
        model = nn.Sequential(Normalize(spec.mean, spec.std), network).to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        steps_per_epoch = train_set.num_batches(config.batch_size)
        optimizer = make_optimizer(model, config)
        scheduler = make_scheduler(optimizer, steps_per_epoch=steps_per_epoch, config=config)
        scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
        task = ClassificationTask(label_smoothing=config.label_smoothing)

        out = Path(config.out)
        name = config.name or _default_name(config, out)
        run_dir = prepare_run_dir(out, name)  # only now: bad input never leaves a directory
        try:
            atomic_write_text(run_dir / CONFIG_FILE, config.to_json())
            final = _train_epochs(
                config, model, train_set, test_set, optimizer, scheduler, scaler, task,
                device=device, amp=amp, run_dir=run_dir, started=started, progress=progress,
            )
            seconds = time.perf_counter() - started
            info = ModelInfo(
                architecture=config.model,
                kwargs=kwargs,
                classes=list(spec.classes),
                in_chans=spec.in_chans,
                input_size=spec.image_size[0],
                mean=list(spec.mean),
                std=list(spec.std),
                dataset=config.data,
                training={
                    "seconds": round(seconds, 3),
                    "steps_per_epoch": steps_per_epoch,
                    "train_images": len(train_set),
                    "data_seconds": round(data_seconds, 3),
                    "test_acc": final.accuracy,
                    "device": str(device),
                    "amp": str(amp).replace("torch.", "") if amp else "off",
                    "threads": torch.get_num_threads(),
                },
            )
            save_model(run_dir, network, info)
            build_report(run_dir, model=model, info=info, config=config, test_set=test_set, evaluation=final)
            finished = finish_run_dir(run_dir)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
    return FitResult(run_dir=finished, report=finished / REPORT_FILE, test_acc=final.accuracy, seconds=seconds)


def _train_epochs(
    config: TrainConfig,
    model: nn.Module,
    train_set,
    test_set,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    task: ClassificationTask,
    *,
    device: torch.device,
    amp: torch.dtype | None,
    run_dir: Path,
    started: float,
    progress: bool,
) -> Evaluation:
    """Run every epoch, evaluating and appending to metrics.jsonl; returns the final evaluation."""
    spec = train_set.spec
    order = torch.Generator().manual_seed(config.seed)        # the order of the training images
    augmentation = torch.Generator().manual_seed(config.seed + 1)  # crops and flips
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    autocast = (lambda: torch.autocast(device.type, dtype=amp)) if amp else contextlib.nullcontext
    steps_per_epoch = train_set.num_batches(config.batch_size)
    report_every = max(1, steps_per_epoch // 100)
    result: Evaluation | None = None

    with TrainProgress(enabled=progress, epochs=config.epochs) as bar:
        for epoch in range(1, config.epochs + 1):
            model.train()
            bar.start_epoch(epoch, steps_per_epoch)
            epoch_start = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            score_sum = torch.zeros((), device=device, dtype=torch.int64)
            seen = 0
            for step, (images, labels) in enumerate(train_set.batches(config.batch_size, shuffle=True, generator=order)):
                x = to_float(images.to(device, non_blocking=True))  # (N, C, H, W) in [0, 1]
                y = labels.to(device, non_blocking=True)
                if config.augment:
                    x = augment_batch(x, spec, augmentation)
                x = x.contiguous(memory_format=memory_format)
                with autocast():
                    output = model(x)
                    loss = task.loss(output, y)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                scheduler.step()
                loss_sum += loss.detach() * len(y)
                score_sum += task.score(output.detach(), y)
                seen += len(y)
                if (step + 1) % report_every == 0 or seen == len(train_set):
                    mean_loss = loss_sum.item() / seen
                    if not math.isfinite(mean_loss):
                        raise TrainingDiverged(
                            f"training diverged in epoch {epoch} (loss {mean_loss}); lower --lr (now {config.lr})"
                        )
                    speed = seen / (time.perf_counter() - epoch_start)
                    bar.update(step + 1, loss=mean_loss, acc=score_sum.item() / seen, speed=speed)
            train_seconds = time.perf_counter() - epoch_start
            record = {
                "epoch": epoch,
                "train_loss": loss_sum.item() / seen,
                "train_acc": score_sum.item() / seen,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": round(train_seconds, 4),
                "images_per_s": round(seen / train_seconds, 1),
            }
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                eval_start = time.perf_counter()
                result = evaluate(
                    model, test_set, device=device, tta=config.tta, amp=amp, channels_last=config.channels_last,
                    keep_wrong=MISTAKES_SHOWN if epoch == config.epochs else 0,
                )
                record.update(
                    test_loss=result.loss,
                    test_acc=result.accuracy,
                    eval_seconds=round(time.perf_counter() - eval_start, 4),
                )
                bar.end_epoch(test_acc=result.accuracy)
            record["elapsed"] = round(time.perf_counter() - started, 4)
            append_metrics(run_dir, record)
    assert result is not None  # the last epoch always evaluates
    return result
