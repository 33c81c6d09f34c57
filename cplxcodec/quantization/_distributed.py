"""Collective operations that are no-ops unless ``torch.distributed`` is initialised.

The quantizer's EMA statistics are sums (cluster counts, per-cluster row sums), so summing them
over ranks gives exactly the statistics of the global batch. State that is drawn at random
(k-means initialisation, dead-code replacements) is broadcast from rank 0 so that every rank
keeps identical codebooks.
"""

from __future__ import annotations

import torch.distributed as dist
from torch import Tensor

__all__ = ["all_reduce_sum_", "broadcast_", "is_distributed"]


def is_distributed() -> bool:
    """Whether a default process group exists (collectives are then issued, even on one rank)."""
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum_(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over all ranks, in place; returns it."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_(tensor: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``tensor`` on every rank with rank ``src``'s value, in place; returns it."""
    if is_distributed():
        dist.broadcast(tensor, src=src)
    return tensor
