"""fit() and resume(): the training loop of every cnnkit run, from a TrainConfig to a finished
run directory, exactly resumable after a kill and data-parallel under torchrun.

The data stay uint8 tensors until a batch is drawn; conversion to float, augmentation
(random crop with padding, horizontal flip) and normalisation work on whole batches, as in
the speed-run training scripts (Jordan, 2024, arXiv:2404.00498). The normalisation is the
first layer of the model, so the saved model takes pixels in [0, 1] like every other
cnnkit function.

Exact resume: the run checkpoints at its start, after every epoch and every
``checkpoint_every`` steps (by default whenever 30 s have passed and the last checkpoint
cost under 2% of the time since). A checkpoint holds everything later steps depend on
(train/checkpoint.py), and a resumed epoch redraws its permutation from the saved
generator state and skips the batches already taken, so the final weights are bitwise
those of the run never interrupted (CPU, same machine and threads).

Adversarial training (``config.adversarial``: FGSM, Goodfellow et al., 2015, arXiv:1412.6572;
PGD, Madry et al., 2018, arXiv:1706.06083) perturbs each batch in pixel space, after
augmentation and before the model's Normalize layer; train/adversarial.py states its choices.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnkit import __version__
from cnnkit.atomic import atomic_write_text
from cnnkit.data import load_dataset
from cnnkit.data.augment import augment_batch, to_float
from cnnkit.data.memory import MemoryDataset
from cnnkit.errors import CheckpointError, CnnkitError, ConfigError
from cnnkit.layers import Normalize
from cnnkit.layers.reference import use_reference_ops
from cnnkit.models import create_model, get_model_entry
from cnnkit.schema import Fields
from cnnkit.train.adversarial import AdversarialTraining, keep_batchnorm_statistics
from cnnkit.train.checkpoint import (
    STATE_INFO_FILE,
    Checkpoint,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from cnnkit.train.config import TrainConfig
from cnnkit.train.device import resolve_amp, resolve_device
from cnnkit.train.distributed import Distributed, distributed_session, is_main_process
from cnnkit.train.evaluation import Evaluation, evaluate
from cnnkit.train.interrupt import StopSignals, TrainingInterrupted
from cnnkit.train.optim import make_optimizer
from cnnkit.train.progress import TrainProgress
from cnnkit.train.report import MISTAKES_SHOWN, build_report
from cnnkit.train.runlock import RunLock, run_lock
from cnnkit.train.rundir import (
    CONFIG_FILE,
    MODEL_FILE,
    REPORT_FILE,
    ModelInfo,
    append_metrics,
    finish_run_dir,
    keep_metrics_before,
    prepare_run_dir,
    save_model,
)
from cnnkit.train.schedule import make_scheduler
from cnnkit.train.task import aux_logits, task_for

__all__ = ["FitResult", "fit", "resume", "TrainingDiverged", "TrainingInterrupted"]

AUTO_CHECKPOINT_SECONDS = 30.0   # the default: at most this much work is lost to a kill ...
AUTO_CHECKPOINT_OVERHEAD = 0.02  # ... unless a checkpoint costs more than 2% of that time
RESUME_OVERRIDES = ("checkpoint_every", "num_workers")  # may differ on resume: no effect on the weights


class TrainingDiverged(CnnkitError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class FitResult:
    """Where a finished run lives and how it ended."""

    run_dir: Path
    report: Path
    test_acc: float
    seconds: float
    rank: int = 0                     # under torchrun, this process's rank; rank 0 reports


def fit(config: TrainConfig, *, progress: bool = True) -> FitResult:
    """Train ``config.model`` on ``config.data`` (lecture: mini-batch SGD) into a new run directory."""
    return _run(config, progress=progress)


def resume(
    run: str | Path,
    *,
    progress: bool = True,
    checkpoint_every: int | None = None,
    num_workers: int | None = None,
) -> FitResult:
    """Continue an interrupted run from its last checkpoint; the result is bitwise the uninterrupted run's.

    ``run`` is the run directory (``runs/NAME`` finds ``runs/.NAME.partial``). Nothing in it
    changes unless the checkpoint is valid and fits the run's config.json.
    """
    run_dir = _locate_unfinished(Path(run))
    # Rank 0 locks the run before reading its checkpoint: a second resume must not even read
    # (or roll forward) a checkpoint the first is writing.
    with run_lock(run_dir, "cnnkit train --resume") if is_main_process() else contextlib.nullcontext() as lock:
        config = TrainConfig.from_file(run_dir / CONFIG_FILE)
        checkpoint = load_checkpoint(run_dir)
        _check_position(checkpoint.meta, source=f"{run_dir / STATE_INFO_FILE}", epochs=config.epochs)
        saved = checkpoint.meta["config"]
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
        return _run(config, progress=progress, run_dir=run_dir, checkpoint=checkpoint, lock=lock)


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


def _run(
    config: TrainConfig,
    *,
    progress: bool,
    run_dir: Path | None = None,
    checkpoint: Checkpoint | None = None,
    lock: RunLock | None = None,
) -> FitResult:
    started = time.perf_counter()
    get_model_entry(config.model)  # an unknown model fails before any data is read
    with (
        distributed_session(resolve_device(config.device)) as ddp,
        _torch_settings(config.threads, ddp.device),
        StopSignals() as stop,
        contextlib.ExitStack() as locks,
    ):
        device = ddp.device
        amp = resolve_amp(config.amp, device)
        if config.batch_size % ddp.world:
            raise ConfigError(f"--batch-size {config.batch_size} does not split over {ddp.world} processes")
        if checkpoint is not None and checkpoint.meta.get("world") != ddp.world:
            raise CheckpointError(
                f"{run_dir} was trained by {checkpoint.meta.get('world')} process(es); resume it with as many "
                f"(now {ddp.world})"
            )
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
        if config.reference_ops:  # the lecture's operators; same parameters, same state dict
            network = use_reference_ops(network)
        model = nn.Sequential(Normalize(spec.mean, spec.std), network).to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if ddp.enabled:  # the same initial weights everywhere (DDP checks), then per-rank dropout
            torch.manual_seed(config.seed + 1000 * ddp.rank)
        trainer = _Trainer(config, ddp, model, train_set, test_set, stop, device=device, amp=amp, started=started)
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
            ddp.share_buffers(model)
            identical = ddp.gather(_weights_digest(network))
            if len(set(identical)) != 1:
                raise RuntimeError(f"the {ddp.world} processes ended with different weights: {identical}")
            finished = run_dir
            if ddp.is_main:
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
                        "steps_per_epoch": trainer.steps_per_epoch,
                        "train_images": len(train_set),
                        "data_seconds": round(data_seconds, 3),
                        "test_acc": final.accuracy,
                        "device": str(device),
                        "amp": str(amp).replace("torch.", "") if amp else "off",
                        "threads": torch.get_num_threads(),
                        "processes": ddp.world,
                        "weights_sha256": identical,
                        "resumed": trainer.resumed,
                        "checkpoints": trainer.checkpoints,
                        "checkpoint_seconds": round(trainer.checkpoint_seconds, 4),
                        **({"adversarial": config.adversarial_settings} if config.adversarial else {}),
                    },
                )
                save_model(run_dir, network, info)
                build_report(run_dir, model=model, info=info, config=config, test_set=test_set, evaluation=final)
                finished = finish_run_dir(run_dir)
                lock.moved(finished)
            finished = Path(ddp.broadcast(str(finished)))
            accuracy = ddp.broadcast(final.accuracy if final is not None else None)
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
    return FitResult(
        run_dir=finished, report=finished / REPORT_FILE, test_acc=accuracy, seconds=seconds, rank=ddp.rank
    )


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


class _Trainer:
    """The state of one training run and the steps that advance it (one per process)."""

    def __init__(
        self,
        config: TrainConfig,
        ddp: Distributed,
        model: nn.Sequential,
        train_set,
        test_set,
        stop: StopSignals,
        *,
        device: torch.device,
        amp: torch.dtype | None,
        started: float,
    ) -> None:
        self.config, self.ddp, self.model, self.stop = config, ddp, model, stop
        self.train_set, self.test_set = train_set, test_set
        self.device, self.amp, self.started = device, amp, started
        self.train_model = ddp.wrap(model)
        self.steps_per_epoch = train_set.num_batches(config.batch_size, world=ddp.world)
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, steps_per_epoch=self.steps_per_epoch, config=config)
        self.scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
        self.task = task_for(model[-1], label_smoothing=config.label_smoothing)  # model[-1]: the network
        self.has_aux = any(hasattr(m, "aux_logits") for m in model.modules())  # GoogLeNet's aux heads
        self.adversary = AdversarialTraining.from_config(config)  # None: standard training
        self.order = torch.Generator().manual_seed(config.seed)  # the order of the training images
        # crops and flips; each process augments its own share differently
        self.augmentation = torch.Generator().manual_seed(config.seed + 1 + 1000 * ddp.rank)
        self.run_dir: Path | None = None
        self.resumed = 0
        self.elapsed_before = 0.0            # training time of earlier processes of this run
        self.epoch, self.step = 1, 0         # the epoch in progress and the steps it has taken
        self.epoch_order = self.order.get_state()
        self.final: Evaluation | None = None
        self.last_checkpoint, self.checkpoint_cost = time.perf_counter(), 0.0
        self.checkpoints, self.checkpoint_seconds = 0, 0.0  # written by this process, and their cost
        self._reset_sums()
        self._epoch_clock = time.perf_counter()

    def close(self) -> None:
        """Drop the DistributedDataParallel wrapper now, while its process group still exists.

        Left to the garbage collector, DDP's reducer could outlive the group and its gloo
        threads abort the process at exit ("terminate called without an active exception").
        """
        self.train_model = self.model
        gc.collect()

    # ---------------------------------------------------------------- state
    def _reset_sums(self) -> None:
        self.loss_sum = torch.zeros((), device=self.device)
        self.score_sum = torch.zeros((), device=self.device, dtype=torch.int64)
        self.adv_score_sum = torch.zeros((), device=self.device, dtype=torch.int64)  # adversarial training only
        self.seen = 0
        self.epoch_seconds = 0.0

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def _rank_state(self) -> dict[str, Any]:
        """What differs between processes: random states and this epoch's running sums."""
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": np.random.get_state(),
            "python": random.getstate(),
            "augmentation": self.augmentation.get_state(),
            "loss_sum": self.loss_sum,
            "score_sum": self.score_sum,
            "adv_score_sum": self.adv_score_sum,
            "seen": self.seen,
            "epoch_seconds": self.epoch_seconds + time.perf_counter() - self._epoch_clock,
        }

    def save(self) -> None:
        """Write a checkpoint of the current position (every process takes part)."""
        began = time.perf_counter()
        ranks = self.ddp.gather(self._rank_state())
        if self.ddp.is_main:
            state = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "epoch_order": self.epoch_order,
                "ranks": ranks,
            }
            meta = {
                "epoch": self.epoch,
                "step": self.step,
                "steps_per_epoch": self.steps_per_epoch,
                "epochs": self.config.epochs,
                "world": self.ddp.world,
                "train_images": len(self.train_set),
                "elapsed": round(self.elapsed(), 4),
                "config": self.config.to_dict(),
                "cnnkit_version": __version__,
            }
            save_checkpoint(self.run_dir, state, meta)
        self.last_checkpoint = time.perf_counter()
        self.checkpoint_cost = self.last_checkpoint - began
        self.checkpoints += 1
        self.checkpoint_seconds += self.checkpoint_cost

    def restore(self, checkpoint: Checkpoint, run_dir: Path) -> None:
        """Put every piece of state back as it was when ``checkpoint`` was written."""
        meta, state = checkpoint.meta, checkpoint.state
        if meta.get("steps_per_epoch") != self.steps_per_epoch or meta.get("train_images") != len(self.train_set):
            raise CheckpointError(
                f"the training set differs from the one {run_dir} was trained on "
                f"({len(self.train_set)} images now, {meta.get('train_images')} then); it cannot be resumed"
            )
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler is not None:
                self.scaler.load_state_dict(state["scaler"])
            mine = state["ranks"][self.ddp.rank]
            torch.set_rng_state(mine["torch"])
            if mine["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(mine["cuda"])
            np.random.set_state(mine["numpy"])
            random.setstate(mine["python"])
            self.augmentation.set_state(mine["augmentation"])
            self.epoch_order = state["epoch_order"]
            self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
            self.loss_sum = mine["loss_sum"].to(self.device)
            self.score_sum = mine["score_sum"].to(self.device)
            if "adv_score_sum" in mine:  # checkpoints written before adversarial training lack it
                self.adv_score_sum = mine["adv_score_sum"].to(self.device)
            self.seen, self.epoch_seconds = int(mine["seen"]), float(mine["epoch_seconds"])
            self.elapsed_before = float(meta["elapsed"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise CheckpointError(f"checkpoint in {run_dir} does not fit the run ({first}); it cannot be resumed") from None
        self.resumed = 1
        self.run_dir = run_dir
        if self.ddp.is_main:  # drop records of epochs the checkpoint had not finished
            keep_metrics_before(run_dir, self.epoch)

    # ---------------------------------------------------------------- training
    def run(self, *, progress: bool) -> Evaluation:
        """Train the remaining epochs and return the final evaluation."""
        with TrainProgress(enabled=progress and self.ddp.is_main, epochs=self.config.epochs) as bar:
            while self.epoch <= self.config.epochs:
                self._train_epoch(bar)
        if self.final is None:  # resumed after the last epoch: evaluate again for the report
            self.final = self._evaluate(keep_wrong=MISTAKES_SHOWN)
        return self.final

    def _checkpoint_due(self, global_step: int) -> bool:
        every = self.config.checkpoint_every
        if every is not None:
            return every > 0 and global_step % every == 0
        if not self.ddp.is_main:
            return False  # rank 0's clock decides for all
        waited = time.perf_counter() - self.last_checkpoint
        return waited >= max(AUTO_CHECKPOINT_SECONDS, self.checkpoint_cost / AUTO_CHECKPOINT_OVERHEAD)

    def _train_epoch(self, bar: TrainProgress) -> None:
        config, device, spec = self.config, self.device, self.train_set.spec
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        autocast = (lambda: torch.autocast(device.type, dtype=self.amp)) if self.amp else contextlib.nullcontext
        report_every = max(1, self.steps_per_epoch // 100)
        epoch = self.epoch
        self.model.train()
        bar.start_epoch(epoch, self.steps_per_epoch)
        self._epoch_clock = time.perf_counter()
        self.order.set_state(self.epoch_order)  # the epoch's permutation, again when resumed mid-epoch
        batches = self.train_set.batches(
            config.batch_size, shuffle=True, generator=self.order, start=self.step, shard=self.ddp.shard
        )
        for images, labels in batches:
            x = to_float(images.to(device, non_blocking=True))  # (N, C, H, W) in [0, 1]
            y = labels.to(device, non_blocking=True)
            if config.augment:
                x = augment_batch(x, spec, self.augmentation)
            x = x.contiguous(memory_format=memory_format)
            with autocast():
                if self.adversary is None:
                    output = self.train_model(x)
                    loss = self.task.loss(output, y, aux=self._aux())
                else:
                    output, loss = self._adversarial_loss(x, y, memory_format)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            self.scheduler.step()
            self.loss_sum += loss.detach() * len(y)
            self.score_sum += self.task.score(output.detach(), y)
            self.seen += len(y)
            self.step += 1
            diverged = False
            if self.step % report_every == 0 or self.step == self.steps_per_epoch:
                mean_loss = self.loss_sum.item() / self.seen
                diverged = not math.isfinite(mean_loss)
                speed = self.seen / (self.epoch_seconds + time.perf_counter() - self._epoch_clock)
                bar.update(self.step, loss=mean_loss, acc=self.score_sum.item() / self.seen, speed=speed)
            global_step = (epoch - 1) * self.steps_per_epoch + self.step
            stop, due, diverged = self.ddp.any(
                self.stop.requested is not None, self._checkpoint_due(global_step), diverged
            )
            if diverged:
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch} (loss {self.loss_sum.item() / self.seen}); "
                    f"lower --lr (now {config.lr})"
                )
            if self.step < self.steps_per_epoch and (stop or due):
                self.save()
            if stop and self.step < self.steps_per_epoch:
                self._interrupted()
        self._end_epoch(bar)

    def _aux(self) -> tuple[torch.Tensor, ...] | None:
        """The auxiliary heads' logits of the last training forward (GoogLeNet), else None."""
        return aux_logits(self.model) if self.has_aux else None

    def _adversarial_loss(
        self, x: torch.Tensor, y: torch.Tensor, memory_format: torch.memory_format
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """R * J(x, y) + (1 - R) * J(x_adv, y) (Goodfellow et al., 2015; R = 0 is Madry et al., 2018).

        Returns the clean batch's output (for train_acc) and the loss; counts the adversarial
        batch's correct predictions in ``adv_score_sum``. See train/adversarial.py for the choices.
        """
        adversary = self.adversary
        x_adv = adversary.examples(self.model, x, y).contiguous(memory_format=memory_format)  # (N, C, H, W)
        if adversary.ratio > 0:
            output = self.train_model(x)
            clean_loss = self.task.loss(output, y, aux=self._aux())
        else:  # Madry: no clean term; one forward without gradient still gives train_acc
            with torch.no_grad(), keep_batchnorm_statistics(self.model):
                output = self.model(x)
        adv_output = self.train_model(x_adv)
        loss = self.task.loss(adv_output, y, aux=self._aux())
        if adversary.ratio > 0:
            loss = adversary.ratio * clean_loss + (1 - adversary.ratio) * loss
        self.adv_score_sum += self.task.score(adv_output.detach(), y)
        return output, loss

    def _end_epoch(self, bar: TrainProgress) -> None:
        """Evaluate, append the epoch's record, and checkpoint the start of the next epoch."""
        config, epoch = self.config, self.epoch
        train_seconds = self.epoch_seconds + time.perf_counter() - self._epoch_clock
        loss_sum, score_sum, adv_score_sum, seen = self.ddp.sum(
            self.loss_sum.item(), self.score_sum.item(), self.adv_score_sum.item(), self.seen
        )
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_acc": score_sum / seen,
            **({"train_adv_acc": adv_score_sum / seen} if self.adversary is not None else {}),
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(train_seconds, 4),
            "images_per_s": round(seen / train_seconds, 1),
        }
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            eval_start = time.perf_counter()
            result = self._evaluate(keep_wrong=MISTAKES_SHOWN if epoch == config.epochs else 0)
            if result is not None:
                record.update(
                    test_loss=result.loss,
                    test_acc=result.accuracy,
                    eval_seconds=round(time.perf_counter() - eval_start, 4),
                )
                bar.end_epoch(test_acc=result.accuracy)
            if epoch == config.epochs:
                self.final = result
        record["elapsed"] = round(self.elapsed(), 4)
        if self.ddp.is_main:
            append_metrics(self.run_dir, record)
        self.epoch, self.step = epoch + 1, 0
        self.epoch_order = self.order.get_state()
        self._reset_sums()
        self._epoch_clock = time.perf_counter()
        self.save()
        (stop,) = self.ddp.any(self.stop.requested is not None)
        if stop and self.epoch <= config.epochs:
            self._interrupted()

    def _evaluate(self, *, keep_wrong: int) -> Evaluation | None:
        """The test-set evaluation, on rank 0 only (the others return None)."""
        if not self.ddp.is_main:
            return None
        return evaluate(
            self.model, self.test_set, device=self.device, tta=self.config.tta, amp=self.amp,
            channels_last=self.config.channels_last, keep_wrong=keep_wrong,
        )

    def _interrupted(self) -> None:
        signum = self.stop.requested or 15  # another rank's signal: report it as SIGTERM
        where = f"epoch {self.epoch}, step {self.step} of {self.steps_per_epoch}"
        raise TrainingInterrupted(f"interrupted; checkpoint saved at {where}", run_dir=self.run_dir, signum=signum)
