"""The Trainer: one run's state and the steps that advance it, the same for every Task.

A step, top to bottom: the Task unpacks, moves and augments the batch; the forward pass and the
loss run under autocast (the objective decides the loss: the Task's own, or adversarial
training's mix of clean and perturbed batches); backward, optimiser, schedule; the running sums
(loss, and whatever the Task counts) grow; the processes agree whether to stop, checkpoint or
give up on a diverged loss. An epoch ends with the test evaluation, its record in
metrics.jsonl and a checkpoint of the next epoch's start (train/state.py).
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.train import state
from cnnkit.train.adversarial import AdversarialTraining
from cnnkit.train.checkpoint import Checkpoint
from cnnkit.train.config import TrainConfig
from cnnkit.train.distributed import Distributed
from cnnkit.train.interrupt import StopSignals, TrainingInterrupted
from cnnkit.train.optim import make_optimizer
from cnnkit.train.progress import TrainProgress
from cnnkit.runs.metrics import append_metrics
from cnnkit.train.schedule import make_scheduler
from cnnkit.train.task import Task

__all__ = ["Trainer", "TrainingDiverged"]

AUTO_CHECKPOINT_SECONDS = 30.0   # the default: at most this much work is lost to a kill ...
AUTO_CHECKPOINT_OVERHEAD = 0.02  # ... unless a checkpoint costs more than 2% of that time


class TrainingDiverged(CnnkitError):
    """The loss became NaN or infinite."""


class Trainer:
    """The state of one training run and the steps that advance it (one per process)."""

    def __init__(
        self,
        config: TrainConfig,
        task: Task,
        ddp: Distributed,
        model: nn.Module,
        train_set: Any,
        test_set: Any,
        stop: StopSignals,
        *,
        device: torch.device,
        amp: torch.dtype | None,
        started: float,
    ) -> None:
        self.config, self.task, self.ddp, self.model, self.stop = config, task, ddp, model, stop
        self.train_set, self.test_set = train_set, test_set
        self.device, self.amp, self.started = device, amp, started
        self.train_model = ddp.wrap(model)
        self.steps_per_epoch = train_set.num_batches(config.batch_size, world=ddp.world)
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, steps_per_epoch=self.steps_per_epoch, config=config)
        self.scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
        self.adversary = AdversarialTraining.from_config(config)  # None: the Task's own loss
        self.order = torch.Generator().manual_seed(config.seed)  # the order of the training items
        # crops and flips; each process augments its own share differently
        self.augmentation = torch.Generator().manual_seed(config.seed + 1 + 1000 * ddp.rank)
        self.run_dir: Path | None = None
        self.resumed = 0
        self.elapsed_before = 0.0            # training time of earlier processes of this run
        self.epoch, self.step = 1, 0         # the epoch in progress and the steps it has taken
        self.epoch_order = self.order.get_state()
        self.final: Any = None
        self.last_checkpoint, self.checkpoint_cost = time.perf_counter(), 0.0
        self.checkpoints, self.checkpoint_seconds = 0, 0.0  # written by this process, and their cost
        self._reset_sums()
        self.epoch_clock = time.perf_counter()

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
        self.sums = self.task.zero_sums(self.device)
        if self.adversary is not None:
            self.sums.update({f"adv_{k}": v for k, v in self.task.zero_sums(self.device).items()})
        self.seen = 0
        self.epoch_seconds = 0.0

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def save(self) -> None:
        """Write a checkpoint of the current position (every process takes part)."""
        began = time.perf_counter()
        state.save(self)
        self.last_checkpoint = time.perf_counter()
        self.checkpoint_cost = self.last_checkpoint - began
        self.checkpoints += 1
        self.checkpoint_seconds += self.checkpoint_cost

    def restore(self, checkpoint: Checkpoint, run_dir: Path) -> None:
        """Put every piece of state back as it was when ``checkpoint`` was written."""
        state.restore(self, checkpoint, run_dir)

    # ---------------------------------------------------------------- training
    def run(self, *, progress: bool) -> Any:
        """Train the remaining epochs and return the final evaluation."""
        with TrainProgress(enabled=progress and self.ddp.is_main, epochs=self.config.epochs) as bar:
            while self.epoch <= self.config.epochs:
                self._train_epoch(bar)
        if self.final is None:  # resumed after the last epoch: evaluate again for the report
            self.final = self._evaluate(final=True)
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
        config, device, task = self.config, self.device, self.task
        autocast = (lambda: torch.autocast(device.type, dtype=self.amp)) if self.amp else contextlib.nullcontext
        report_every = max(1, self.steps_per_epoch // 100)
        epoch = self.epoch
        self.model.train()
        bar.start_epoch(epoch, self.steps_per_epoch)
        self.epoch_clock = time.perf_counter()
        self.order.set_state(self.epoch_order)  # the epoch's permutation, again when resumed mid-epoch
        batches = self.train_set.batches(
            config.batch_size, shuffle=True, generator=self.order, start=self.step, shard=self.ddp.shard
        )
        for batch in batches:
            x, y, count = task.prepare(batch, device, self.augmentation)
            with autocast():
                if self.adversary is None:
                    output = self.train_model(x)
                    loss = task.loss(self.model, output, y)
                else:
                    output, loss = self.adversary.batch_loss(task, self.model, self.train_model, x, y, self.sums)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                if config.clip_grad_norm is not None:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad_norm)
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                if config.clip_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad_norm)
                self.optimizer.step()
            self.scheduler.step()
            self.loss_sum += loss.detach() * count
            task.add_sums(self.sums, output, y)
            self.seen += count
            self.step += 1
            diverged = False
            if self.step % report_every == 0 or self.step == self.steps_per_epoch:
                mean_loss = self.loss_sum.item() / self.seen
                diverged = not math.isfinite(mean_loss)
                speed = self.seen / (self.epoch_seconds + time.perf_counter() - self.epoch_clock)
                shown = task.train_metrics({k: v.item() for k, v in self.sums.items()}, self.seen)
                bar.update(self.step, loss=mean_loss, metrics=shown, speed=speed)
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

    def _end_epoch(self, bar: TrainProgress) -> None:
        """Evaluate, append the epoch's record, and checkpoint the start of the next epoch."""
        config, epoch, task = self.config, self.epoch, self.task
        train_seconds = self.epoch_seconds + time.perf_counter() - self.epoch_clock
        names = list(self.sums)
        loss_sum, *sums, seen = self.ddp.sum(self.loss_sum.item(), *(self.sums[k].item() for k in names), self.seen)
        sums = dict(zip(names, sums))
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            **task.train_metrics(sums, seen),
            **(task.train_metrics(sums, seen, prefix="adv_") if self.adversary is not None else {}),
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(train_seconds, 4),
            "images_per_s": round(seen / train_seconds, 1),
        }
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            eval_start = time.perf_counter()
            result = self._evaluate(final=epoch == config.epochs)
            if result is not None:
                record.update(result.metrics, eval_seconds=round(time.perf_counter() - eval_start, 4))
                bar.end_epoch(test={task.headline: result.metrics[task.headline]})
            if epoch == config.epochs:
                self.final = result
        record["elapsed"] = round(self.elapsed(), 4)
        if self.ddp.is_main:
            append_metrics(self.run_dir, record)
        self.epoch, self.step = epoch + 1, 0
        self.epoch_order = self.order.get_state()
        self._reset_sums()
        self.epoch_clock = time.perf_counter()
        self.save()
        (stop,) = self.ddp.any(self.stop.requested is not None)
        if stop and self.epoch <= config.epochs:
            self._interrupted()

    def _evaluate(self, *, final: bool) -> Any:
        """The test-set evaluation, on rank 0 only (the others return None)."""
        if not self.ddp.is_main:
            return None
        return self.task.evaluate(self.model, self.test_set, config=self.config, device=self.device, amp=self.amp,
                                  final=final)

    def _interrupted(self) -> None:
        signum = self.stop.requested or 15  # another rank's signal: report it as SIGTERM
        where = f"epoch {self.epoch}, step {self.step} of {self.steps_per_epoch}"
        raise TrainingInterrupted(f"interrupted; checkpoint saved at {where}", run_dir=self.run_dir, signum=signum)
