"""One process's place in a run: its device, its rank, and the model wrapped for DDP or FSDP.

Under ``torchrun`` each process reads WORLD_SIZE, RANK and LOCAL_RANK, takes the GPU of its
LOCAL_RANK and joins the process group (nccl on the GPU, gloo on the CPU). DDP averages the
gradients over the W ranks on backward; FSDP2 shards each Transformer block's parameters and
gathers them just in time for its forward and backward. A lone process is world size 1 and
every collective here is a no-op for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..devices import resolve_device
from ..errors import BigModelError


@dataclass
class ProcessPlace:
    """This process's rank among ``world_size``, its device and where its collectives run."""

    world_size: int
    rank: int
    device: torch.device
    fsdp: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def comm_device(self) -> torch.device:
        # Collectives run where their backend lives: nccl on the GPU, gloo on the CPU.
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def agree(self, flag: bool) -> bool:
        """True on every process when it is true on any (clocks differ between processes)."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.comm_device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())


def join_run(device_name: str, strategy: str) -> ProcessPlace:
    """This process's place, from torchrun's environment; joins the process group when W > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = pick_device(device_name, distributed=world_size > 1)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ProcessPlace(world_size, rank, device, fsdp=world_size > 1 and strategy == "fsdp")


def pick_device(name: str, distributed: bool) -> torch.device:
    """``train.device`` as a torch.device; under torchrun each process takes the GPU of
    its LOCAL_RANK."""
    device = resolve_device(name, "config train.device")
    assert device is not None
    if device.type == "cuda":
        if distributed:
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            if local_rank >= torch.cuda.device_count():
                raise BigModelError(f"config train.device {name!r}: LOCAL_RANK {local_rank} has no GPU "
                                    f"(this machine has {torch.cuda.device_count()}); start at most that "
                                    "many processes per node")
            device = torch.device("cuda", local_rank)
        elif device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


def wrap_model(model: torch.nn.Module, place: ProcessPlace, compile: bool) -> torch.nn.Module:
    """The module the loop calls: DDP- or FSDP-wrapped under torchrun, torch.compiled if asked.
    FSDP swaps parameters for sharded ones: wrap before the optimizer sees them."""
    wrapped = model
    if place.fsdp:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        from ..nn.block import TransformerBlock

        mesh = init_device_mesh(place.device.type, (place.world_size,))
        for module in model.modules():
            if isinstance(module, TransformerBlock):
                fully_shard(module, mesh=mesh)
        fully_shard(model, mesh=mesh)
    elif place.distributed:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(model, device_ids=[place.device] if place.device.type == "cuda"
                                          else None)
    if compile:
        from ..nn.losses import keep_eager_under_compile

        keep_eager_under_compile()
        wrapped = torch.compile(wrapped)
    return wrapped


def gather_full_model(model: Any, place: ProcessPlace) -> torch.nn.Module | None:
    """The whole model on rank 0 (FSDP gathers its shards: every rank must call this)."""
    if not place.fsdp:
        return model if place.is_main else None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not place.is_main:
        return None
    plain = type(model)(model.config)
    plain.load_state_dict(state)
    return plain


def gather_optimizer_state(model: Any, optimizer: torch.optim.Optimizer, place: ProcessPlace) -> dict[str, Any]:
    """The optimizer's state dict, whole (FSDP gathers the shards of every rank)."""
    if not place.fsdp:
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer,
                                    options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_sharded_states(model: Any, optimizer: torch.optim.Optimizer, model_state: dict[str, Any],
                        optimizer_state: dict[str, Any]) -> None:
    """Whole model and optimizer states scattered into FSDP's shards."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, model_state, options=options)
    set_optimizer_state_dict(model, optimizer, optimizer_state, options=options)


def leave_run(place: ProcessPlace) -> None:
    if place.distributed and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["ProcessPlace", "gather_full_model", "gather_optimizer_state", "join_run", "leave_run",
           "load_sharded_states", "pick_device", "wrap_model"]
