"""Data-parallel tests: spawn ranks with the gloo backend on CPU, and a sharded trainee.

``spawn(fn, *args)`` runs ``fn(rank, *args)`` in ``WORLD`` processes joined by a gloo
process group (a file store in a temporary folder) and returns each rank's result.
``ShardTrainee`` is a small regression model wrapped in DistributedDataParallel whose
batch ``i`` on rank ``r`` is drawn from ``(seed, r, i)``: the ranks' losses differ, and
only the all-reduced ones agree.
"""

from __future__ import annotations

import datetime
import math
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from autolr.loop.trainee import TaskInfo, Trainee, check_split

WORLD = 2
# A rank that waits longer than this on a collective fails the test instead of hanging it.
TIMEOUT = datetime.timedelta(seconds=60)

INFO = TaskInfo(
    name="shard",
    kind="synthetic",
    budget_steps=200,
    batch_size=16,
    eval_every=20,
    metric="neg_loss",
    mode="max",
    target=-0.05,
    lr=0.05,
    optimizer="sgd(momentum=0.9)",
    min_lr=1e-6,
    max_lr=10.0,
)


def _entry(rank: int, fn: Callable[..., Any], folder: str, args: tuple[Any, ...]) -> None:
    torch.set_num_threads(1)  # two ranks on a shared two-core machine
    dist.init_process_group(
        "gloo",
        init_method=f"file://{folder}/store",
        rank=rank,
        world_size=WORLD,
        timeout=TIMEOUT,
    )
    try:
        out = fn(rank, *args)
        Path(folder, f"rank{rank}.pkl").write_bytes(pickle.dumps(out))
        # no rank tears its gloo connections down while the other still uses them: without
        # it a rank was seen to abort in gloo's transport ("terminate called without an
        # active exception", SIGABRT) as the other destroyed the group
        dist.barrier()
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], *args: Any) -> list[Any]:
    """``[fn(0, *args), fn(1, *args)]``, each computed in its own rank of a gloo group."""
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_entry, args=(fn, folder, args), nprocs=WORLD, join=True)
        return [pickle.loads(Path(folder, f"rank{r}.pkl").read_bytes()) for r in range(WORLD)]


def env() -> dict[str, str]:
    """The environment for a child Python process: this checkout first on the path."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


class ShardTrainee(Trainee):
    """y = x @ w* + noise by a DDP-wrapped MLP; rank r's batch i is drawn from (seed, r, i).

    ``offsets[r][j]``, where given, is added to rank r's loss in interval j (``interval``
    steps each): it moves the loss the controller sees and not the gradients, so a test
    can shape each rank's curve. ``nan_at = (r, i)`` makes rank r's batch i give a NaN
    loss. ``own`` records each training step's local loss (batch index, value) before any
    reduction.
    """

    def __init__(
        self,
        rank: int,
        seed: int = 0,
        offsets: Sequence[Sequence[float]] | None = None,
        interval: int = 10,
        loss_scale: float = 1.0,
        nan_at: tuple[int, int] | None = None,
    ) -> None:
        self.info = INFO
        self.seed, self.rank = seed, rank
        self.device = torch.device("cpu")
        self.offsets, self.interval, self.loss_scale = offsets, interval, loss_scale
        self.nan_at = nan_at
        torch.manual_seed(seed)  # the same initial weights on every rank (DDP checks them)
        net = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 1)
        )
        self.model = DistributedDataParallel(net)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=INFO.lr, momentum=0.9)
        torch.manual_seed(seed + 1000 * (rank + 1))  # each rank's own dropout masks
        rng = np.random.default_rng(1234)
        self.w = torch.from_numpy(rng.normal(size=(8, 1))).float()
        # each rank scores its own half of the validation set
        xv = torch.from_numpy(np.random.default_rng([99, rank]).normal(size=(32, 8))).float()
        self.val = (xv, xv @ self.w)
        self.own: list[tuple[int, float]] = []

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, self.rank, i])
        x = torch.from_numpy(rng.normal(size=(16, 8))).float() * (1 + self.rank)
        y = x @ self.w + 0.1 * torch.from_numpy(rng.normal(size=(16, 1))).float()
        if self.nan_at == (self.rank, i):
            y = y * math.nan
        return x, y, i

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, int]) -> torch.Tensor:
        x, y, i = batch
        loss = self.loss_scale * torch.nn.functional.mse_loss(self.model(x), y)
        if self.offsets is not None:
            loss = loss + self.offsets[self.rank][i // self.interval]
        if torch.is_grad_enabled():
            self.own.append((i, float(loss.detach())))
        return loss

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        check_split(split)
        x, y = self.val
        self.model.eval()
        with torch.no_grad():
            loss = float(torch.nn.functional.mse_loss(self.model(x), y))
        self.model.train()
        return loss, -loss
