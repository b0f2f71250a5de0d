"""fit() and resume(): a Task and a TrainConfig in, a finished run directory out, exactly resumable
after a kill and data-parallel under torchrun.

The data stay compact (uint8 tensors) until a batch is drawn; conversion to float, augmentation
and normalisation work on whole batches, as in the speed-run training scripts (Jordan, 2024,
arXiv:2404.00498). For classification the normalisation is the first layer of the model, so the
saved model takes pixels in [0, 1] like every other cnnkit function.

Exact resume: the run checkpoints at its start, after every epoch and every
``checkpoint_every`` steps (by default whenever 30 s have passed and the last checkpoint
cost under 2% of the time since). A checkpoint holds everything later steps depend on
(train/state.py), and a resumed epoch redraws its permutation from the saved generator state
and skips the batches already taken, so the final weights are bitwise those of the run never
interrupted (CPU, same machine and threads).

Adversarial training (``config.adversarial``: FGSM, Goodfellow et al., 2015, arXiv:1412.6572;
PGD, Madry et al., 2018, arXiv:1706.06083) is an objective the trainer gives the Task's loss;
train/adversarial.py states its choices.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnkit.atomic import atomic_write_text
from cnnkit.errors import CheckpointError, CnnkitError, ConfigError
from cnnkit.schema import Fields
from cnnkit.train.checkpoint import STATE_INFO_FILE, Checkpoint, has_checkpoint, load_checkpoint
from cnnkit.train.config import TrainConfig
from cnnkit.device import resolve_amp, resolve_device
from cnnkit.train.distributed import Distributed, distributed_session, is_main_process
from cnnkit.train.interrupt import StopSignals, TrainingInterrupted
from cnnkit.runs.lock import RunLock, run_lock
from cnnkit.runs.format import CONFIG_FILE, MODEL_FILE, REPORT_FILE, finish_run_dir, free_run_name, prepare_run_dir
from cnnkit.train.task import Task, task_from_config
from cnnkit.train.trainer import Trainer, TrainingDiverged

__all__ = ["FitResult", "fit", "resume", "TrainingDiverged", "TrainingInterrupted"]

RESUME_OVERRIDES = ("checkpoint_every", "num_workers")  # may differ on resume: no effect on the weights


@dataclass(frozen=True)
class FitResult:
    """Where a finished run lives and how it ended."""

    run_dir: Path
    report: Path
    test_acc: float | None            # the Task's headline metric (classification: test accuracy)
    seconds: float
    rank: int = 0                     # under torchrun, this process's rank; rank 0 reports
    metrics: dict[str, float] | None = None  # the final evaluation's metrics (rank 0)
    headline: str = "test_acc"        # the name of the metric in test_acc


def fit(config: TrainConfig, *, task: Task | None = None, progress: bool = True) -> FitResult:
    """Train ``config.model`` on ``config.data`` (lecture: mini-batch SGD) into a new run directory.

    ``task`` is what is learnt; None takes the one ``config.task`` names (classification by
    default). Any object with the members of ``cnnkit.train.task.Task`` trains, checkpoints and
    resumes through the same loop.
    """
    return _run(config, task or task_from_config(config), progress=progress)


def resume(
    run: str | Path,
    *,
    task: Task | None = None,
    progress: bool = True,
    checkpoint_every: int | None = None,
    num_workers: int | None = None,
) -> FitResult:
    """Continue an interrupted run from its last checkpoint; the result is bitwise the uninterrupted run's.

    ``run`` is the run directory (``runs/NAME`` finds ``runs/.NAME.partial``); ``task`` is the one
    ``fit`` was given (None: the one config.json names). Nothing in the run changes unless the checkpoint is
    valid and fits the run's config.json.
    """
    run_dir = _locate_unfinished(Path(run))
    # Rank 0 locks the run before reading its checkpoint: a second resume must not even read
    # (or roll forward) a checkpoint the first is writing.
    with run_lock(run_dir, "cnnkit train --resume") if is_main_process() else contextlib.nullcontext() as lock:
        config = TrainConfig.from_file(run_dir / CONFIG_FILE)
        checkpoint = load_checkpoint(run_dir)
        _check_position(checkpoint.meta, source=f"{run_dir / STATE_INFO_FILE}", epochs=config.epochs)
        saved = {**TrainConfig().to_dict(), **checkpoint.meta["config"]}  # fields added since take their defaults
        changed = sorted(
            k for k in set(saved) | set(config.to_dict())
            if k not in RESUME_OVERRIDES and saved.get(k) != config.to_dict().get(k)
        )
        if changed:
            first = changed[0]
            raise CheckpointError(
                f"{run_dir / CONFIG_FILE} changed since the checkpoint ({first}: {saved.get(first)!r} -> "
                f"{config.to_dict().get(first)!r}); restore it, or start a new run with 'cnnkit train --config'"
            )
        overrides = {"checkpoint_every": checkpoint_every, "num_workers": num_workers}
        config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
        return _run(config, task or task_from_config(config), progress=progress, run_dir=run_dir, checkpoint=checkpoint,
                    lock=lock)


def _check_position(meta: dict[str, Any], *, source: str, epochs: int) -> None:
    """state.json's scalars: where training stopped, in range, before anything is restored from them."""
    fields = Fields(source, CheckpointError, hint="the checkpoint is damaged and cannot be resumed")
    steps = fields.integer("meta.steps_per_epoch", meta.get("steps_per_epoch"), 1, 10**9)
    fields.integer("meta.epoch", meta.get("epoch"), 1, epochs + 1)
    fields.integer("meta.step", meta.get("step"), 0, steps - 1)
    fields.integer("meta.world", meta.get("world"), 1, 65_536)
    fields.integer("meta.train_images", meta.get("train_images"), 1, 10**12)
    fields.number("meta.elapsed", meta.get("elapsed"), 0, 1e9)
    fields.mapping("meta.config", meta.get("config"), max_items=200)


def _locate_unfinished(path: Path) -> Path:
    partial = path.parent / f".{path.name}.partial"
    finished = not (path.name.startswith(".") and path.name.endswith(".partial"))
    if finished and path.is_dir() and (path / MODEL_FILE).is_file():
        raise CheckpointError(f"{path} is a finished run: all its epochs are done, there is nothing to resume")
    if not path.is_dir() and partial.is_dir():
        return partial
    if not path.is_dir():
        raise CheckpointError(f"run directory {path} does not exist; nothing to resume")
    return path


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


def _default_name(config: TrainConfig, out: Path) -> str:
    return free_run_name(out, f"{config.model}-{config.data}")


def _run(
    config: TrainConfig,
    task: Task,
    *,
    progress: bool,
    run_dir: Path | None = None,
    checkpoint: Checkpoint | None = None,
    lock: RunLock | None = None,
) -> FitResult:
    started = time.perf_counter()
    with (
        distributed_session(resolve_device(config.device)) as ddp,
        _torch_settings(config.threads, ddp.device),
        StopSignals() as stop,
        contextlib.ExitStack() as locks,
    ):
        device = ddp.device
        amp = resolve_amp(config.amp, device)
        if config.batch_size % ddp.world:
            raise ConfigError(f"batch_size (--batch-size) {config.batch_size} does not split over {ddp.world} processes")
        if checkpoint is not None and checkpoint.meta.get("world") != ddp.world:
            raise CheckpointError(
                f"{run_dir} was trained by {checkpoint.meta.get('world')} process(es); resume it with as many "
                f"(now {ddp.world})"
            )
        torch.manual_seed(config.seed)
        train_set, test_set = task.datasets(config, device)
        data_seconds = time.perf_counter() - started
        built = task.build(config, train_set, device)
        if ddp.enabled:  # the same initial weights everywhere (DDP checks), then per-rank dropout
            torch.manual_seed(config.seed + 1000 * ddp.rank)
        trainer = Trainer(config, task, ddp, built.model, train_set, test_set, stop, device=device, amp=amp,
                          started=started)
        if checkpoint is None:
            run_dir = _new_run_dir(config, ddp)
            if ddp.is_main:
                lock = locks.enter_context(run_lock(run_dir, "cnnkit train"))
        if checkpoint is not None:
            trainer.restore(checkpoint, run_dir)
        trainer.run_dir = run_dir
        resume_hint = f"cnnkit train --resume {run_dir.parent / run_dir.name.removeprefix('.').removesuffix('.partial')}"
        try:
            if checkpoint is None:
                if ddp.is_main:
                    atomic_write_text(run_dir / CONFIG_FILE, config.to_json())
                trainer.save()  # from here on the run can always be resumed
            final = trainer.run(progress=progress)
            seconds = trainer.elapsed()
            ddp.share_buffers(built.model)
            identical = ddp.gather(_weights_digest(built.network))
            if len(set(identical)) != 1:
                raise RuntimeError(f"the {ddp.world} processes ended with different weights: {identical}")
            finished = run_dir
            metrics = final.metrics if final is not None else None
            if ddp.is_main:
                training = {
                    "seconds": round(seconds, 3),
                    "steps_per_epoch": trainer.steps_per_epoch,
                    "train_images": len(train_set),
                    "data_seconds": round(data_seconds, 3),
                    task.headline: metrics[task.headline],
                    "device": str(device),
                    "amp": str(amp).replace("torch.", "") if amp else "off",
                    "threads": torch.get_num_threads(),
                    "processes": ddp.world,
                    "weights_sha256": identical,
                    "resumed": trainer.resumed,
                    "checkpoints": trainer.checkpoints,
                    "checkpoint_seconds": round(trainer.checkpoint_seconds, 4),
                    **({"adversarial": trainer.adversary.settings} if trainer.adversary is not None else {}),
                }
                task.finish(run_dir, built, config=config, test_set=test_set, evaluation=final, training=training)
                finished = finish_run_dir(run_dir)
                lock.moved(finished)
            finished = Path(ddp.broadcast(str(finished)))
            headline = ddp.broadcast(metrics[task.headline] if metrics is not None else None)
        except TrainingDiverged:
            if ddp.is_main:
                shutil.rmtree(run_dir, ignore_errors=True)  # resuming would diverge again
            raise
        except TrainingInterrupted as err:
            raise TrainingInterrupted(f"{err}; resume with: {resume_hint}", run_dir=run_dir, signum=err.signum) from None
        except KeyboardInterrupt:
            raise TrainingInterrupted(
                f"stopped at once; resume from the last checkpoint with: {resume_hint}", run_dir=run_dir, signum=2
            ) from None
        except Exception as err:
            if not has_checkpoint(run_dir):  # failed before training began: leave nothing behind
                if ddp.is_main:
                    shutil.rmtree(run_dir, ignore_errors=True)
                raise
            if not isinstance(err, CnnkitError):
                raise
            raise type(err)(f"{err}; once fixed, resume with: {resume_hint}") from None
        finally:
            trainer.close()  # DDP must be gone before its process group is destroyed
    return FitResult(run_dir=finished, report=finished / REPORT_FILE, test_acc=headline, seconds=seconds,
                     rank=ddp.rank, metrics=metrics, headline=task.headline)


def _new_run_dir(config: TrainConfig, ddp: Distributed) -> Path:
    """Rank 0 creates ``out/.name.partial``; every rank learns its path (or rank 0's error)."""
    out = Path(config.out)
    outcome: Any = None
    if ddp.is_main:
        try:
            outcome = prepare_run_dir(out, config.name or _default_name(config, out))
        except CnnkitError as err:
            outcome = err
    outcome = ddp.broadcast(outcome)
    if isinstance(outcome, CnnkitError):
        raise outcome
    return Path(outcome)


def _weights_digest(network: nn.Module) -> str:
    """SHA-256 over the sorted state dict: names and raw bytes (what model.safetensors will hold)."""
    digest = hashlib.sha256()
    for key, value in sorted(network.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().to("cpu").reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


