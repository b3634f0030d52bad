"""AutoLRS in your own training loop: give it the model, the optimizer and a ``train_step``.

    loop = AutoLRSLoop(model, optimizer, train_step, loader, budget_steps=3000)
    loop.fit()          # or: for step, lr, loss in loop: ...

``train_step(batch) -> float`` does one whole step on one batch (zero_grad, forward,
backward, ``optimizer.step()``) and returns the loss; the loop writes the LR into the param
groups before each call. Batches are drawn from ``batches`` (any iterable, restarted when
exhausted) and kept until the model has trained past them, so every trial of a stage sees
the same batches. Trials snapshot and restore the model, optimizer and RNG states in memory
(``autolr.loop.snapshot``) and are charged to the budget like the kept steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch

from autolr.loop import snapshot as snapshots
from autolr.loop.ledger import Ledger
from autolr.loop.probe import ProbeResult
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState, loss_stats
from search.autolrs import AutoLRS


class AutoLRSLoop:
    """Drive ``search.AutoLRS`` around a user's ``train_step`` closure.

    Args:
        model, optimizer: the user's (a snapshot copies their state dicts).
        train_step: ``batch -> loss`` for one optimizer step.
        batches: an iterable of batches (e.g. a DataLoader).
        budget_steps: every step charged: kept, trial and range-test steps.
        evaluate: optional ``() -> val_loss`` for the validation phase of the search.
        divergence_factor: a loss above this times the best seen counts as divergence.
        **autolrs: AutoLRS's parameters (k, tau0, lr_range, ...).
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
        if not callable(train_step):
            raise ValueError(f"train_step must be callable, got {train_step!r}")
        if divergence_factor <= 1:
            raise ValueError(f"divergence_factor must be > 1, got {divergence_factor!r}")
        self.model, self.optimizer = model, optimizer
        self.train_step, self.evaluate = train_step, evaluate
        self.ledger = Ledger(budget_steps)
        self.controller = AutoLRS(budget_steps=budget_steps, **autolrs)
        self.divergence_factor = divergence_factor
        self._batches = batches
        self._iter: Iterator[Any] = iter(batches)
        self._cache: dict[int, Any] = {}
        self._drawn = 0
        self.best = math.inf
        self.trace: list[tuple[int, float, float]] = []  # (step, lr, loss) of kept steps
        lr0 = float(optimizer.param_groups[0]["lr"])
        self.state = TrainingState(
            step=0,
            budget=budget_steps,
            charged=0,
            interval=1,
            lr=lr0,
            group_lrs=(lr0,),
            initial_lr=lr0,
            initial_loss=math.nan,
        )

    @property
    def remaining(self) -> int:
        """Steps left in the budget (the probe interface)."""
        return self.ledger.remaining

    def _batch(self, i: int) -> Any:
        while self._drawn <= i:
            try:
                self._cache[self._drawn] = next(self._iter)
            except StopIteration:
                self._iter = iter(self._batches)
                continue
            self._drawn += 1
        return self._cache[i]

    def _train(self, lrs: np.ndarray) -> tuple[np.ndarray, int, bool]:
        start, losses = self.ledger.kept, np.full(len(lrs), math.nan)
        for k, lr in enumerate(lrs):
            for group in self.optimizer.param_groups:
                group["lr"] = float(lr)
            value = float(self.train_step(self._batch(start + k)))
            losses[k] = value
            if not math.isfinite(value) or value > self.divergence_factor * self.best:
                return losses, k + 1, True
        return losses, len(lrs), False

    def run(  # the probe interface: same signature as autolr.loop.probe.Probe.run
        self,
        segment: Segment | float,
        steps: int | None = None,
        *,
        validate: bool = False,
        kind: str = "probe",
    ) -> ProbeResult:
        """A trial from the current point, charged as ``kind``, then undone."""
        if not isinstance(segment, Segment):
            segment = Segment.constant(float(segment), steps or 1)
        n = min(segment.steps if steps is None else steps, self.remaining)
        if n <= 0:
            return ProbeResult(np.zeros(0), 0, False)
        snap = snapshots.take(self, self.ledger.kept)  # type: ignore[arg-type]
        losses, used, diverged = self._train(segment.schedule.values(np.arange(n)))
        val = self.evaluate() if validate and not diverged and self.evaluate else None
        snapshots.restore(self, snap)  # type: ignore[arg-type]
        self.ledger.charge(kind, used)
        return ProbeResult(losses[:used], used, diverged, val)

    def __iter__(self) -> Iterator[tuple[int, float, float]]:
        """Train the whole budget; yield (step, lr, loss) after each kept step."""
        while self.remaining > 0:
            segment = self.controller.propose(self.state, self)  # type: ignore[arg-type]
            n = min(segment.steps, self.remaining)
            if n == 0:
                break
            lrs = segment.schedule.values(np.arange(n))
            snap = snapshots.take(self, self.ledger.kept)  # type: ignore[arg-type]
            first = self.ledger.kept
            losses, used, diverged = self._train(lrs)
            if diverged:
                snapshots.restore(self, snap)  # type: ignore[arg-type]
                self.ledger.charge("lost", used)
                self.state = self.state.evolve(
                    rolled_back=True, diverged=True, charged=self.ledger.charged
                )
            else:
                self.ledger.charge("kept", used)
                for j in range(used):
                    self.trace.append((first + j + 1, float(lrs[j]), float(losses[j])))
                    yield self.trace[-1]
                self.best = min(self.best, float(losses.mean()))
                for i in [i for i in self._cache if i < self.ledger.kept]:
                    del self._cache[i]
                self.state = self.state.evolve(
                    step=self.ledger.kept,
                    charged=self.ledger.charged,
                    lr=float(lrs[-1]),
                    group_lrs=(float(lrs[-1]),),
                    losses=losses,
                    rolled_back=False,
                    diverged=False,
                    best_loss=self.best,
                    **loss_stats(losses),
                )
            self.controller.observe(self.state)

    def fit(self) -> list[tuple[int, float, float]]:
        """Train the whole budget; return the (step, lr, loss) trace of the kept steps."""
        for _ in self:
            pass
        return self.trace
