"""Checkpoint and exact restore of a Trainer: everything later steps read, nothing else.

A checkpoint (train/checkpoint.py writes its two files) holds the weights and buffers, the
optimiser, the scheduler, the GradScaler, the order generator's state at the epoch's start, and
per rank the torch / CUDA / NumPy / Python RNGs, the augmentation generator and the epoch's
running sums. A resumed epoch redraws its permutation and skips the batches taken, so the final
weights are bitwise those of the run never interrupted. Anything new that consumes randomness
or carries state across steps must join ``rank_state`` (tests/train/test_resume.py will say so).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cnnkit import __version__
from cnnkit.errors import CheckpointError
from cnnkit.train.checkpoint import Checkpoint, save_checkpoint
from cnnkit.runs.metrics import keep_metrics_before

if TYPE_CHECKING:
    from cnnkit.train.trainer import Trainer

__all__ = ["rank_state", "restore", "save"]


def rank_state(trainer: Trainer) -> dict[str, Any]:
    """What differs between processes: random states and this epoch's running sums."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "augmentation": trainer.augmentation.get_state(),
        "loss_sum": trainer.loss_sum,
        **trainer.sums,                       # the task's sums ("score_sum", "adv_score_sum", ...)
        "seen": trainer.seen,
        "epoch_seconds": trainer.epoch_seconds + time.perf_counter() - trainer.epoch_clock,
    }


def save(trainer: Trainer) -> None:
    """Write a checkpoint of the trainer's position (every process takes part; rank 0 writes)."""
    ranks = trainer.ddp.gather(rank_state(trainer))
    if not trainer.ddp.is_main:
        return
    state = {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else None,
        "epoch_order": trainer.epoch_order,
        "ranks": ranks,
    }
    meta = {
        "epoch": trainer.epoch,
        "step": trainer.step,
        "steps_per_epoch": trainer.steps_per_epoch,
        "epochs": trainer.config.epochs,
        "world": trainer.ddp.world,
        "train_images": len(trainer.train_set),
        "elapsed": round(trainer.elapsed(), 4),
        "config": trainer.config.to_dict(),
        "cnnkit_version": __version__,
    }
    save_checkpoint(trainer.run_dir, state, meta)


def restore(trainer: Trainer, checkpoint: Checkpoint, run_dir: Path) -> None:
    """Put every piece of the trainer's state back as it was when ``checkpoint`` was written."""
    meta, state = checkpoint.meta, checkpoint.state
    if meta.get("steps_per_epoch") != trainer.steps_per_epoch or meta.get("train_images") != len(trainer.train_set):
        raise CheckpointError(
            f"the training set differs from the one {run_dir} was trained on "
            f"({len(trainer.train_set)} images now, {meta.get('train_images')} then); it cannot be resumed"
        )
    try:
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.scheduler.load_state_dict(state["scheduler"])
        if trainer.scaler is not None:
            trainer.scaler.load_state_dict(state["scaler"])
        mine = state["ranks"][trainer.ddp.rank]
        torch.set_rng_state(mine["torch"])
        if mine["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(mine["cuda"])
        np.random.set_state(mine["numpy"])
        random.setstate(mine["python"])
        trainer.augmentation.set_state(mine["augmentation"])
        trainer.epoch_order = state["epoch_order"]
        trainer.epoch, trainer.step = int(meta["epoch"]), int(meta["step"])
        trainer.loss_sum = mine["loss_sum"].to(trainer.device)
        for name in trainer.sums:
            if name in mine or not name.startswith("adv_"):  # checkpoints before adversarial training lack "adv_"
                trainer.sums[name] = mine[name].to(trainer.device)
        trainer.seen, trainer.epoch_seconds = int(mine["seen"]), float(mine["epoch_seconds"])
        trainer.elapsed_before = float(meta["elapsed"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"checkpoint in {run_dir} does not fit the run ({first}); it cannot be resumed") from None
    trainer.resumed = 1
    trainer.run_dir = run_dir
    if trainer.ddp.is_main:  # drop records of epochs the checkpoint had not finished
        keep_metrics_before(run_dir, trainer.epoch)
