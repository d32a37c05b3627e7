"""Data-parallel training under ``torchrun``: one process per device, DistributedDataParallel.

``torchrun --nproc_per_node=N -m vae_core train ...`` starts N copies of the command with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set; ``init_from_env`` joins them into one process group
(NCCL between GPUs, gloo between CPU processes). The trainer then gives every rank the same
seeded permutation, binarization and noise, lets each rank run its share of every global batch
on its own device, and weights each rank's loss so that DDP's gradient average is the gradient
of the global batch's mean loss: N processes follow the loss curve of one process with the same
global batch and seed, up to float summation order. Rank 0 alone reports, validates and writes
the checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Rank:
    """This process's place in the group (``rank`` 0 of ``world_size`` 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch: every ``world_size``-th one, so that the shares
        of a short last batch differ in size by at most one row."""
        return batch[self.rank :: self.world_size]


def init_from_env(device: str = "auto") -> Rank:
    """Join the process group that ``torchrun`` describes in the environment, once.

    Without ``WORLD_SIZE`` > 1 in the environment this does nothing and returns rank 0 of 1, so
    ``python -m vae_core train`` alone is unchanged. On CUDA each process takes the GPU of its
    ``LOCAL_RANK``, so that ``pick_device("cuda")`` means that GPU in it.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Rank()
    if not dist.is_initialized():
        use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return current_rank()


def current_rank() -> Rank:
    """The rank of this process in the initialised process group (rank 0 of 1 without one)."""
    if not dist.is_initialized():
        return Rank()
    return Rank(dist.get_rank(), dist.get_world_size())


def sum_over_ranks(t: torch.Tensor, rank: Rank) -> torch.Tensor:
    """The sum of ``t`` over all ranks (``t`` itself when not distributed)."""
    if rank.world_size > 1:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def leave_group() -> None:
    """Tear the process group down at the end of a distributed command (a no-op otherwise)."""
    if dist.is_initialized():
        dist.destroy_process_group()
