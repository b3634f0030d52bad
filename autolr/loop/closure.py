"""A Trainee built from a user's closures: their model, optimizer, ``train_step`` and
batches. It lets a user's own training step run inside a Session, so probing controllers
(AutoLRS) work in a user's loop through the one stepper, with snapshots and the ledger."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from autolr.loop.trainee import TaskInfo, Trainee, check_split


class ClosureTrainee(Trainee):
    """A Trainee over a user's ``train_step(batch) -> loss`` (one whole optimizer step).

    Batch ``i`` is the i-th item drawn from ``batches`` (restarted when exhausted), cached
    until ``forget_before`` drops it, so a probe and the kept run see the same batches.
    ``evaluate() -> val_loss`` is optional; without ``loss(batch) -> tensor`` (forward only)
    the session's initial loss is unknown (NaN). A user's loop has no test split here:
    ``evaluate("test")`` is NaN.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        train_step: Callable[[Any], float],
        batches: Iterable[Any],
        budget_steps: int,
        *,
        evaluate: Callable[[], float] | None = None,
        loss: Callable[[Any], torch.Tensor] | None = None,
    ) -> None:
        if not callable(train_step):
            raise ValueError(f"train_step must be callable, got {train_step!r}")
        self.model, self.optimizer = model, optimizer
        self.train_step = train_step
        self._evaluate, self._loss = evaluate, loss
        first = next(iter(model.parameters()), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.seed = 0
        self.info = TaskInfo(
            name="closure",
            kind="synthetic",
            budget_steps=budget_steps,
            batch_size=0,
            eval_every=0,
            metric="val_loss",
            mode="min",
            target=-math.inf,
            lr=float(optimizer.param_groups[0]["lr"]),
            optimizer=type(optimizer).__name__,
            min_lr=0.0,
            max_lr=math.inf,
        )
        self._batches = batches
        self._iter: Iterator[Any] = iter(batches)
        self._cache: dict[int, Any] = {}
        self._drawn = 0

    def batch(self, i: int) -> Any:
        if i not in self._cache and i < self._drawn:
            raise IndexError(f"batch {i} was already forgotten (kept steps are past it)")
        while self._drawn <= i:
            try:
                self._cache[self._drawn] = next(self._iter)
            except StopIteration:
                self._iter = iter(self._batches)
                try:
                    self._cache[self._drawn] = next(self._iter)
                except StopIteration:
                    raise ValueError(
                        "batches ran out and cannot be restarted: pass a re-iterable "
                        "(a list or a DataLoader), not an iterator"
                    ) from None
            self._drawn += 1
        return self._cache[i]

    def forget_before(self, i: int) -> None:
        """Drop the cached batches before ``i`` (training has moved past them for good)."""
        for j in [j for j in self._cache if j < i]:
            del self._cache[j]

    def loss(self, batch: Any) -> torch.Tensor:
        if self._loss is None:
            return torch.tensor(math.nan)
        return self._loss(batch)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        if check_split(split) == "test" or self._evaluate is None:
            return math.nan, math.nan
        value = float(self._evaluate())
        return value, value
