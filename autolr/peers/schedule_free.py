"""Schedule-free AdamW and SGD (Defazio et al. 2024, "The Road Less Scheduled"; the
``schedulefree`` package).

The optimizer keeps two sequences: it trains at ``y`` (gradients are taken there) and is
meant to be evaluated at ``x``, the average. ``optimizer.eval()`` swaps the parameters to
``x`` and ``optimizer.train()`` back to ``y``, and the package asks for both around every
evaluation (``autolr.peers.trainee`` does it). Its warmup is internal (``warmup_steps``),
and it takes no LR decay: the peer runs under a constant schedule at its ``lr``, which the
stepper writes each segment (the package multiplies it by its own warmup factor).

Defaults:

- ``schedulefree-adamw``: AlgoPerf's self-tuning submission of the package
  (``schedulefree/algoperf/self_tuning/schedule_free_adamw/submission.py``, ``HPARAMS``):
  lr 0.0025, betas (0.9, 0.9955159689799007), weight_decay 0.08121616522670176, r 0.75,
  weight_lr_power 2, warmup 2% of the run (its ``warmup_factor``; the submission scales
  it by AlgoPerf's ``step_hint * 0.75``, here by the run's budget).
- ``schedulefree-sgd``: the package's defaults (lr 1.0, momentum 0.9, no weight decay; its
  README: SGD learning rates "10x to 50x larger than classical rates", which 1.0 is for
  the tasks' SGD peaks of 0.02-0.1), and the same 2% warmup (the README "highly
  recommends" warmup and names no fraction).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from autolr.peers.base import PEERS, EvalPoint, Peer

WARMUP_FRAC = 0.02  # AlgoPerf's warmup_factor


class TrainEvalSwitch:
    """Schedule-free's evaluation point: ``optimizer.eval()`` in, ``optimizer.train()`` out."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer

    def enter(self) -> None:
        self.optimizer.eval()

    def leave(self) -> None:
        self.optimizer.train()


class ScheduleFree(Peer):
    """The two schedule-free peers: a constant LR with the package's internal warmup."""

    package = "schedulefree"
    module = "schedulefree"
    own: ClassVar[dict[str, Any]] = {"warmup_steps_frac": WARMUP_FRAC}

    def check(self) -> None:
        super().check()
        self.check_steps("warmup_steps")

    def schedule(self, budget: int) -> dict[str, Any]:
        return {"name": "constant", "lr": self.lr}

    def constructor(self, model: nn.Module, budget: int) -> dict[str, Any]:
        kwargs = super().constructor(model, budget)
        kwargs["warmup_steps"] = self.steps("warmup_steps", budget)
        return kwargs

    def eval_point(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> EvalPoint:
        optimizer.train()  # the package's optimizers start in eval mode and refuse to step
        return TrainEvalSwitch(optimizer)


@PEERS.register("schedulefree-adamw")
class ScheduleFreeAdamW(ScheduleFree):
    """Schedule-free AdamW at AlgoPerf's self-tuning settings (schedulefree.AdamWScheduleFree)."""

    name = "schedulefree-adamw"
    attr = "AdamWScheduleFree"
    defaults: ClassVar[dict[str, Any]] = {
        "lr": 0.0025,
        "betas": (0.9, 0.9955159689799007),
        "weight_decay": 0.08121616522670176,
        "r": 0.75,
        "weight_lr_power": 2.0,
    }
    max_lr = 1.0  # Adam's range in the tasks (tasks.base.LR_RANGE)


@PEERS.register("schedulefree-sgd")
class ScheduleFreeSGD(ScheduleFree):
    """Schedule-free SGD at the package's defaults with 2% warmup (schedulefree.SGDScheduleFree)."""

    name = "schedulefree-sgd"
    attr = "SGDScheduleFree"
    max_lr = 10.0  # SGD's range in the tasks (tasks.base.LR_RANGE)
