"""Process-group set-up for torchrun (DistributedDataParallel) and the few collectives training needs.

Every helper is a no-op for one process. With CUDA the group is ``cpu:gloo,cuda:nccl``: NCCL only
moves CUDA tensors, so each collective runs on the device :func:`collective_device` names and
Python objects (validation predictions) travel through gloo.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun: DDP and collectives run, even in a world of one

    @property
    def enabled(self) -> bool:
        return self.launched or self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def process_group_backend(cuda: bool) -> str:
    """gloo for CPU tensors and objects; NCCL for CUDA tensors when there is a GPU."""
    return "cpu:gloo,cuda:nccl" if cuda else "gloo"


def init_distributed() -> DistInfo:
    """Join the process group torchrun describes in the environment (also for ``--nproc_per_node 1``)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")),
                    launched=True)
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=process_group_backend(cuda))
    return info


def cleanup_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(value: float, info: DistInfo, device: torch.device | str = "cpu") -> float:
    if not info.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item() / info.world_size)


def all_ranks(flag: bool, info: DistInfo, device: torch.device | str = "cpu") -> bool:
    """True when ``flag`` is true on every rank: lets all ranks take (or skip) a step together."""
    if not info.enabled:
        return flag
    tensor = torch.tensor([int(flag)], dtype=torch.int32, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return bool(tensor.item())


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (picklable objects)."""
    if not info.enabled:
        return [obj]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered
