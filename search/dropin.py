"""AutoLRS in your own training loop: give it the model, the optimizer and a ``train_step``.

    loop = AutoLRSLoop(model, optimizer, train_step, loader, budget_steps=3000)
    loop.fit()          # or: for step, lr, loss in loop: ...

``train_step(batch) -> float`` does one whole step on one batch (zero_grad, forward,
backward, ``optimizer.step()``) and returns the loss; the session's stepper writes the LR
(times each group's ``lr_scale``) into the param groups before each call. The loop is an
``autolr`` Session over a ``ClosureTrainee``: batches are drawn from ``batches`` (any
re-iterable, restarted when exhausted) and kept until the model has trained past them, so
every trial of a stage sees the same batches; trials snapshot and restore the model,
optimizer and RNG states in memory and are charged to the budget like the kept steps, and a
diverged stage is rolled back (with the LR capped below it) as in any Session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from autolr.loop.closure import ClosureTrainee
from autolr.loop.ledger import Ledger
from autolr.loop.probe import Probe
from autolr.loop.session import Session
from autolr.loop.state import TrainingState
from search.autolrs import AutoLRS


class AutoLRSLoop:
    """Drive ``search.AutoLRS`` around a user's ``train_step`` closure.

    Args:
        model, optimizer: the user's (a snapshot copies their state dicts).
        train_step: ``batch -> loss`` for one optimizer step.
        batches: a re-iterable of batches (e.g. a DataLoader).
        budget_steps: every step charged: kept, trial and range-test steps.
        evaluate: optional ``() -> val_loss`` for the validation phase of the search.
        divergence_factor: a loss above this times the best interval mean is divergence.
        **autolrs: AutoLRS's parameters (preset, k, tau0, lr_range, ...); the default
            preset is "paper" (``search.autolrs``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        train_step: Callable[[Any], float],
        batches: Iterable[Any],
        budget_steps: int,
        evaluate: Callable[[], float] | None = None,
        divergence_factor: float = 10.0,
        **autolrs: Any,
    ) -> None:
        self.trainee = ClosureTrainee(
            model, optimizer, train_step, batches, budget_steps, evaluate=evaluate
        )
        self.controller = AutoLRS(budget_steps=budget_steps, **autolrs)
        self.session = Session(
            self.trainee,
            self.controller,
            budget_steps,
            interval=1,
            eval_every=0,
            divergence_factor=divergence_factor,
        )
        self.trace: list[tuple[int, float, float]] = []  # (step, lr, loss) of kept steps

    @property
    def ledger(self) -> Ledger:
        return self.session.ledger

    @property
    def state(self) -> TrainingState:
        return self.session.state

    @property
    def remaining(self) -> int:
        """Steps left in the budget."""
        return self.session.ledger.remaining

    @property
    def probe(self) -> Probe:
        """Trials from the current point, charged and undone (``loop.probe.run(lr, steps)``)."""
        return self.session.probe

    def __iter__(self) -> Iterator[tuple[int, float, float]]:
        """Train the whole budget; yield (step, lr, loss) after each kept step."""
        steps = self.session.history.steps
        while self.session.turn():
            for j in range(len(self.trace), len(steps["step"])):
                self.trace.append((int(steps["step"][j]), steps["lr"][j], steps["train_loss"][j]))
                yield self.trace[-1]
            self.trainee.forget_before(self.session.step)

    def fit(self) -> list[tuple[int, float, float]]:
        """Train the whole budget; return the (step, lr, loss) trace of the kept steps."""
        for _ in self:
            pass
        return self.trace
