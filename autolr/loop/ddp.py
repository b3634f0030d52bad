"""Data-parallel runs (``torch.distributed``): what every rank must agree on.

Under an initialised process group of more than one rank, a Session and ``autolr.attach``
keep the ranks in lockstep: each rank runs the controller, and every number the controller
decides from (each step's training loss, the validation loss and metric, the gradient
statistics) is the mean over the ranks, so every rank's controller sees the same inputs.
The plan each stretch of training writes (a kept segment's or a probe's LRs) is then
broadcast from rank 0, so the ranks train at one LR even where a controller's own
randomness is not seeded alike. See docs/core.md, "Data-parallel training".

Without a process group (or with one rank) every function here is the identity and runs
no collective: single-process runs are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from autolr.loop.trainee import Trainee

T = TypeVar("T")


def world() -> int:
    """The number of ranks (1 without an initialised process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def active() -> bool:
    """True where the ranks must agree: a process group of more than one rank."""
    return world() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if active() else 0


def _device() -> torch.device:
    # NCCL reduces CUDA tensors only; gloo (and MPI) CPU tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mean(value: float) -> float:
    """The mean of ``value`` over the ranks. A non-finite value on any rank makes the mean
    non-finite, so a divergence on one rank is a divergence on all."""
    if not active():
        return value
    return float(mean_array(np.array([value]))[0])


def mean_array(values: np.ndarray) -> np.ndarray:
    """The elementwise mean over the ranks of a float array of one shape on every rank."""
    if not active():
        return values
    t = torch.as_tensor(np.asarray(values, dtype=np.float64), device=_device()).clone()
    dist.all_reduce(t)  # a sum: its result is the same on every rank, and so is sum / n
    return (t / world()).cpu().numpy()


def agree(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (a broadcast; ``obj`` must pickle)."""
    if not active():
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: T) -> list[T] | None:
    """Every rank's ``obj``, in rank order, on rank 0 (None on the others); ``[obj]``
    without a process group."""
    if not active():
        return [obj]
    out: list[Any] | None = [None] * world() if rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    """Wait until every rank gets here (nothing without a process group)."""
    if active():
        dist.barrier()


def evaluate(trainee: Trainee, split: str | None = None) -> tuple[float, float]:
    """``trainee.evaluate(split)`` as floats, averaged over the ranks (each rank may score
    its own shard of the split: with shards of one size, the mean is the whole split's)."""
    loss, metric = trainee.evaluate() if split is None else trainee.evaluate(split)
    if not active():
        return float(loss), float(metric)
    both = mean_array(np.array([float(loss), float(metric)]))
    return float(both[0]), float(both[1])
