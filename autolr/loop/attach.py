"""``autolr.attach``: drive a controller from the user's own training loop."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from autolr.controllers.base import Controller, build_controller
from autolr.loop import ddp
from autolr.loop.closure_probe import ClosureProbe
from autolr.loop.ledger import Ledger
from autolr.loop.segment import Segment
from autolr.loop.state import StateTracker
from autolr.loop.stepper import Divergence, Plan, Stepper
from autolr.loop.stepstats import grad_norm
from autolr.schedules.torch_adapter import group_scales

UNBOUNDED = 2**62  # the budget of a loop that did not declare one
# A probe's loss above this times the best interval mean is divergence (a Session's default).
DIVERGENCE_FACTOR = 10.0


class Handle:
    """Call ``.step(loss)`` once after each ``optimizer.step()``.

    Every ``interval`` calls, the controller sees a TrainingState built from the recorded
    losses (and the gradient norm, when gradients are still present) and proposes the next
    segment; the handle's stepper writes that segment's LR (times each group's
    ``lr_scale``) into the optimizer before every step, as a Session would. With
    ``budget_steps``, segments are cut to the budget left and ``done`` says when it is spent.

    Controllers that need probes (``auto``, ``lr_finder``) need ``train_step`` and
    ``budget_steps``: ``train_step() -> loss`` does one whole step on your next batch
    (zero_grad, forward, backward, ``optimizer.step()``), and the handle's ClosureProbe
    (``autolr.loop.closure_probe``) calls it for trial training, which it then undoes; every
    probe step is charged to ``budget_steps``. The controller's first proposal, and so its
    first probes, happen in the constructor. Other controllers get ``probe=None``.

    Under ``torch.distributed`` every rank attaches and calls ``step`` once per step: at
    each decision the controller sees the ranks' mean losses and gradient norm, probes
    average each step's loss over the ranks, and every plan is rank 0's, so every rank
    writes the same LR at every step (``autolr.loop.ddp``).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        controller: Controller,
        interval: int,
        budget_steps: int | None = None,
        *,
        train_step: Callable[[], float | torch.Tensor] | None = None,
        model: torch.nn.Module | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be an integer >= 1, got {interval!r}")
        if controller.needs_probe and train_step is None:
            raise ValueError(
                f"controller {controller.name!r} needs probes: pass train_step (a closure that "
                "does one whole training step on your next batch and returns the loss) to "
                "attach, or run it in an autolr Session"
            )
        if controller.needs_probe and budget_steps is None:
            raise ValueError(
                f"controller {controller.name!r} needs probes, which are charged to the "
                "budget: pass budget_steps to attach"
            )
        self.optimizer = optimizer
        self.controller = controller
        self.interval = interval
        self.scales = group_scales(optimizer.param_groups)
        self.budget_steps = budget_steps
        self.ledger = Ledger(budget_steps or UNBOUNDED)
        self.stepper = Stepper(optimizer)
        self.tracker = StateTracker()
        self.probe: ClosureProbe | None = None
        if train_step is not None:
            self.probe = ClosureProbe(self, train_step, model)
        lr0 = float(getattr(controller, "lr", None) or optimizer.param_groups[0]["lr"])
        self.state = self.tracker.initial(
            budget=self.ledger.budget,
            interval=interval,
            lr=lr0,
            lr_scale=self.scales,
            initial_loss=math.nan,
        )
        self._begin(self._propose())

    @property
    def step_count(self) -> int:
        """Optimizer steps recorded so far (kept steps: probes are not counted)."""
        return self.ledger.kept + self._pending

    @property
    def charged(self) -> int:
        """Optimizer steps charged to the budget so far: the kept ones and the probes'."""
        return self.ledger.charged + self._pending

    @property
    def _pending(self) -> int:
        """Steps of the current segment not yet charged (once it is finished, ``_decide``
        has charged them: the controller deciding sees the ledger's counts)."""
        return 0 if self.stepper.finished else self.stepper.position

    @property
    def remaining(self) -> int:
        """Steps left in ``budget_steps`` (a very large number without one)."""
        return max(0, self.ledger.budget - self.charged)

    @property
    def done(self) -> bool:
        """The budget is spent (never, without ``budget_steps``): stop your loop."""
        return self.budget_steps is not None and self.remaining == 0

    @property
    def lr(self) -> float:
        """The base LR the next optimizer step will use."""
        return self.stepper.lr

    @property
    def lr_scale(self) -> tuple[float, ...]:
        """Each param group's factor on the base LR."""
        return self.scales

    def plan(self, segment: Segment, n: int) -> Plan:
        """The first ``n`` steps of ``segment`` as the stepper writes them."""
        return segment.plan(n, self.scales)

    def divergence(self) -> Divergence:
        """A probe's stop rule: a non-finite loss, or the smoothed loss above
        ``DIVERGENCE_FACTOR`` times the best interval mean (once there is one)."""
        return self.tracker.divergence(DIVERGENCE_FACTOR)

    def evaluated(self, val_loss: float | None = None, val_metric: float | None = None) -> None:
        """Report a validation of the model as it is now (after ``step_count`` steps): the
        controller sees it as ``state.val_loss``, ``val_metric`` and ``val_step`` from its
        next decision on, as a Session's evaluations are seen (NaN included); None where
        that number was not measured. Under DDP every rank calls it at the same step with the
        same numbers given (None on all or on none): each number is the mean over the ranks,
        so every rank's controller sees the same."""
        for name, value in (("val_loss", val_loss), ("val_metric", val_metric)):
            if isinstance(value, bool) or not isinstance(value, int | float | None):
                raise ValueError(f"{name} must be a number or None, got {value!r}")
        self.state = self.state.evolve(
            val_loss=None if val_loss is None else ddp.mean(float(val_loss)),
            val_metric=None if val_metric is None else ddp.mean(float(val_metric)),
            val_step=self.step_count,
        )

    def _propose(self) -> Segment:
        return self.controller.propose(
            self.state, self.probe if self.controller.needs_probe else None
        )

    def _begin(self, segment: Segment) -> None:
        n = segment.steps
        if self.ledger.remaining > 0:  # past the budget, the user's loop goes on uncut
            n = min(n, self.ledger.remaining)
        self._plan = ddp.agree(segment.plan(n, self.scales))  # under DDP: rank 0's, on all
        self.stepper.begin(self._plan)

    def step(self, loss: float | torch.Tensor) -> float:
        """Record the loss of the step just taken; returns the LR for the next step."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        self.stepper.record(value)
        if self.stepper.finished:
            self._decide()
        return self.lr

    def _decide(self) -> None:
        # under DDP: the ranks' mean losses and gradient norm (one collective each per
        # interval), so every rank's controller decides from the same numbers
        losses = ddp.mean_array(self.stepper.losses())
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
        self.state = self.state.evolve(grad_norm=ddp.mean(grad_norm(self.optimizer)))
        self.controller.observe(self.state)
        self._begin(self._propose())


def attach(
    optimizer: torch.optim.Optimizer,
    controller: Controller | Mapping[str, Any] | str,
    interval: int,
    budget_steps: int | None = None,
    *,
    train_step: Callable[[], float | torch.Tensor] | None = None,
    model: torch.nn.Module | None = None,
) -> Handle:
    """Attach a controller (or its config dict, or its name) to an optimizer in your loop.

    ``handle.step(loss)`` after each ``optimizer.step()``; the controller decides every
    ``interval`` steps. A config without ``lr`` starts from the optimizer's current lr, and
    one that takes ``budget_steps`` gets this one.

    A controller that needs probes (``"auto"``) needs ``budget_steps`` and ``train_step() ->
    loss``, one whole training step on your next batch: it trains trial runs through it
    (charged to ``budget_steps``) and undoes them, restoring the optimizer's parameters and
    state, ``model``'s state dict when given (pass it for buffers such as BatchNorm's) and
    torch's RNG. Train while ``not handle.done``: ``handle.charged`` counts kept and probe
    steps, ``handle.step_count`` the kept ones. Unlike a Session, where probes replay the
    batches the run will see, these probes spend your next batches (see
    ``autolr.loop.closure_probe``). Probes run from ``attach`` itself (the first proposal)
    and at the controller's later decisions, inside ``handle.step``.
    """
    spec: Controller | Mapping[str, Any] = (
        {"name": controller} if isinstance(controller, str) else controller
    )
    ctrl = build_controller(
        spec, default_lr=float(optimizer.param_groups[0]["lr"]), budget_steps=budget_steps
    )
    return Handle(optimizer, ctrl, interval, budget_steps, train_step=train_step, model=model)
