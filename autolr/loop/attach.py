"""``autolr.attach``: drive a controller from the user's own training loop."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from autolr.controllers.base import Controller, build_controller
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState, ema_update, loss_stats
from autolr.schedules.torch_adapter import set_momentum


class Handle:
    """Call ``.step(loss)`` once after each ``optimizer.step()``.

    Every ``interval`` calls, the controller sees a TrainingState built from the recorded
    losses (and the gradient norm, when gradients are still present) and proposes the next
    segment; the handle writes that segment's LR (times each group's ``lr_scale``) into the
    optimizer before every step. Controllers that need probes get ``probe=None`` here.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        controller: Controller,
        interval: int,
        budget_steps: int | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be an integer >= 1, got {interval!r}")
        if controller.needs_probe:
            raise ValueError(
                f"controller {controller.name!r} needs probes; run it in an autolr Session "
                "(or use its own drop-in class with a train_step closure)"
            )
        self.optimizer = optimizer
        self.controller = controller
        self.interval = interval
        self.scales = [float(g.get("lr_scale", 1.0)) for g in optimizer.param_groups]
        lr0 = float(getattr(controller, "lr", None) or optimizer.param_groups[0]["lr"])
        self.step_count = 0
        self._losses: list[float] = []
        self._ema = math.nan
        self._best = math.inf
        self.state = TrainingState(
            step=0,
            budget=budget_steps or 2**62,
            charged=0,
            interval=interval,
            lr=lr0,
            group_lrs=tuple(lr0 * s for s in self.scales),
            initial_lr=lr0,
            initial_loss=math.nan,
        )
        self._begin(controller.propose(self.state, None))

    @property
    def lr(self) -> float:
        """The base LR the next optimizer step will use."""
        return float(self._lrs[self._k]) if self._k < len(self._lrs) else self.state.lr

    def _begin(self, segment: Segment) -> None:
        self._segment = segment
        self._lrs = segment.lrs()
        mom = segment.schedule.momentum
        self._moms = None if mom is None else mom.values(np.arange(segment.steps))
        self._k = 0
        self._write()

    def _write(self) -> None:
        k = min(self._k, len(self._lrs) - 1)
        mults = self._segment.multipliers or (1.0,) * len(self.scales)
        for group, scale, mult in zip(self.optimizer.param_groups, self.scales, mults):
            group["lr"] = float(self._lrs[k]) * scale * mult
            if self._moms is not None:
                set_momentum(group, float(self._moms[k]))

    def step(self, loss: float | torch.Tensor) -> float:
        """Record the loss of the step just taken; returns the LR for the next step."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        self._losses.append(value)
        self.step_count += 1
        self._k += 1
        if self._k >= self._segment.steps:
            self._decide()
        else:
            self._write()
        return self.lr

    def _decide(self) -> None:
        losses = np.asarray(self._losses, dtype=np.float64)
        self._losses = []
        stats = loss_stats(losses)
        self._ema = ema_update(self._ema, losses)
        finite = bool(np.isfinite(losses).all())
        if finite:
            self._best = min(self._best, stats["loss_mean"])
        grads = [
            p.grad for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None
        ]
        gnorm = float(torch.cat([g.reshape(-1) for g in grads]).norm()) if grads else math.nan
        initial = self.state.initial_loss
        self.state = self.state.evolve(
            step=self.step_count,
            charged=self.step_count,
            lr=float(self._lrs[-1]),
            initial_loss=stats["loss_mean"] if math.isnan(initial) else initial,
            loss_ema=self._ema,
            best_loss=self._best,
            grad_norm=gnorm,
            diverged=not finite,
            losses=losses,
            **stats,
        )
        self.controller.observe(self.state)
        self._begin(self.controller.propose(self.state, None))


def attach(
    optimizer: torch.optim.Optimizer,
    controller: Controller | Mapping[str, Any],
    interval: int,
    budget_steps: int | None = None,
) -> Handle:
    """Attach a controller (or its config dict) to an optimizer in your own loop.

    ``handle.step(loss)`` after each ``optimizer.step()``; the controller decides every
    ``interval`` steps. A config without ``lr`` starts from the optimizer's current lr.
    """
    ctrl = build_controller(controller, default_lr=float(optimizer.param_groups[0]["lr"]))
    return Handle(optimizer, ctrl, interval, budget_steps)
