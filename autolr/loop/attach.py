"""``autolr.attach``: drive a controller from the user's own training loop."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from autolr.controllers.base import Controller, build_controller
from autolr.loop.ledger import Ledger
from autolr.loop.segment import Segment
from autolr.loop.state import StateTracker
from autolr.loop.stepper import Stepper
from autolr.loop.stepstats import grad_norm
from autolr.schedules.torch_adapter import group_scales

UNBOUNDED = 2**62  # the budget of a loop that did not declare one


class Handle:
    """Call ``.step(loss)`` once after each ``optimizer.step()``.

    Every ``interval`` calls, the controller sees a TrainingState built from the recorded
    losses (and the gradient norm, when gradients are still present) and proposes the next
    segment; the handle's stepper writes that segment's LR (times each group's
    ``lr_scale``) into the optimizer before every step, as a Session would. Controllers that
    need probes get ``probe=None`` here.
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
        self.scales = group_scales(optimizer.param_groups)
        self.ledger = Ledger(budget_steps or UNBOUNDED)
        self.stepper = Stepper(optimizer)
        self.tracker = StateTracker()
        lr0 = float(getattr(controller, "lr", None) or optimizer.param_groups[0]["lr"])
        self.state = self.tracker.initial(
            budget=self.ledger.budget,
            interval=interval,
            lr=lr0,
            lr_scale=self.scales,
            initial_loss=math.nan,
        )
        self._begin(controller.propose(self.state, None))

    @property
    def step_count(self) -> int:
        """Optimizer steps recorded so far."""
        return self.ledger.kept + self.stepper.position

    @property
    def lr(self) -> float:
        """The base LR the next optimizer step will use."""
        return self.stepper.lr

    def _begin(self, segment: Segment) -> None:
        self._plan = segment.plan(segment.steps, self.scales)
        self.stepper.begin(self._plan)

    def step(self, loss: float | torch.Tensor) -> float:
        """Record the loss of the step just taken; returns the LR for the next step."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        self.stepper.record(value)
        if self.stepper.finished:
            self._decide()
        return self.lr

    def _decide(self) -> None:
        losses = self.stepper.losses()
        first = self.ledger.kept
        self.ledger.charge("kept", losses.size)
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            warnings.warn(
                f"autolr.attach: {bad.size} non-finite loss(es) in steps {first + 1}-"
                f"{first + losses.size} (first at step {first + 1 + int(bad[0])}); your loop "
                "is not rolled back (use an autolr Session for that): the controller sees "
                "state.diverged and decides the next LR",
                RuntimeWarning,
                stacklevel=3,
            )
        self.state = self.tracker.after_segment(
            self.state, self.ledger, losses, float(self._plan.lrs[-1]), self._plan.lr_scale
        )
        self.state = self.state.evolve(grad_norm=grad_norm(self.optimizer))
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
