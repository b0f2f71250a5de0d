"""The grid split across torchrun ranks: rank ``r`` of ``W`` evaluates grid points ``r, r + W, ...``
and every rank ends with the whole grid. Without an initialised ``torch.distributed`` process
group there is one rank and nothing is sent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["gather_points", "max_over_ranks", "rank_world"]


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process under torchrun; (0, 1) without a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_points(local: list[tuple[int, float, float]], world: int) -> list[tuple[int, float, float]]:
    """Every rank's evaluated points, on every rank."""
    if world == 1:
        return local
    import torch.distributed as dist

    out: list[Any] = [None] * world
    dist.all_gather_object(out, local)
    return [point for part in out for point in part]


def max_over_ranks(seconds: float, world: int) -> float:
    """The longest of every rank's ``seconds``: the wall time of the whole grid."""
    if world == 1:
        return seconds
    import torch.distributed as dist

    out: list[Any] = [None] * world
    dist.all_gather_object(out, seconds)
    return max(out)

