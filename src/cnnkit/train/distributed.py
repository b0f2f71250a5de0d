"""Data-parallel training under torchrun (torch.distributed + DistributedDataParallel).

``torchrun --nproc-per-node N -m cnnkit train ...`` starts N copies of cnnkit that find
each other through the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR/PORT). Each copy trains on a disjoint share of every global batch, gradients
are averaged across copies (gloo on the CPU, nccl on CUDA), and only rank 0 writes the run
directory and shows progress. Without torchrun the same code runs as one process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cnnkit.errors import ConfigError

__all__ = ["Distributed", "distributed_session"]

# Rank 0 evaluates while the others wait in the next step's gradient all-reduce.
_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @classmethod
    def current(cls) -> Distributed:
        """This process's place in a process group already set up (``distributed_session``), or alone."""
        if dist.is_available() and dist.is_initialized():
            return cls(rank=dist.get_rank(), world=dist.get_world_size(),
                       local_rank=int(os.environ.get("LOCAL_RANK", "0")))
        return cls()

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to train: DistributedDataParallel over ``model`` when there are several ranks."""
        if not self.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def share_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics).

        DDP broadcasts them before each forward pass, so after the last one each rank holds
        statistics updated by its own share of the batch; rank 0's are the run's.
        """
        if self.enabled:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (small Python objects)."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """For each flag, whether any rank raised it (one all-reduce)."""
        if not self.enabled:
            return flags
        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in t.tolist())

    def sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over the ranks."""
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return tuple(t.tolist())


def is_main_process() -> bool:
    """Whether this process is rank 0 (or not under torchrun), known before the process group exists."""
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def distributed_session(device: torch.device) -> Iterator[Distributed]:
    """Join the process group torchrun described, or run alone when there is none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Distributed(device=device)
        return
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                f"start at most that many processes per node"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():  # the caller set the group up already
        yield Distributed(rank=rank, world=world, local_rank=local_rank, device=device)
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=_TIMEOUT)
    try:
        yield Distributed(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, device=device)
        dist.barrier()  # every rank's last collective is done before any rank tears the group down
    finally:
        dist.destroy_process_group()
