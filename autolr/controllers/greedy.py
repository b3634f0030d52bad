"""`greedy`: GreedyLR (Subramanian & Ganapathiraman, 2023), once per interval."""

from __future__ import annotations

import math
from typing import Any

from autolr.checks import check_int, check_nonnegative, check_positive, check_range
from autolr.controllers.base import CONTROLLERS, Controller
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState


@CONTROLLERS.register("greedy")
class Greedy(Controller):
    """Raise the LR while the loss keeps improving, lower it while it does not.

    Each interval, with L the interval's mean training loss and ``best`` the best L so far:
    improved iff L < best * (1 - threshold). After more than ``patience`` improving intervals
    in a row, lr <- min(lr / factor, max_lr); after more than ``patience`` non-improving ones,
    lr <- max(lr * factor, min_lr). Each change starts a ``cooldown`` of intervals that are
    not counted. ``warmup`` intervals ramp linearly from lr / (warmup + 1) to lr first.
    """

    reads_step_stats = False

    name = "greedy"

    def __init__(
        self,
        lr: float | None = None,
        factor: float = 0.9,
        patience: int = 1,
        threshold: float = 1e-4,
        cooldown: int = 0,
        warmup: int = 0,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
    ) -> None:
        if lr is None:
            raise ValueError("controller 'greedy' needs lr (or a task with a default lr)")
        self.lr = check_positive("lr", lr)
        self.factor = check_range("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = check_int("patience", patience, 0)
        self.threshold = check_nonnegative("threshold", threshold)
        self.cooldown = check_int("cooldown", cooldown, 0)
        self.warmup = check_int("warmup", warmup, 0)
        self.min_lr = check_nonnegative("min_lr", min_lr)
        self.max_lr = check_positive("max_lr", max_lr)
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr must be <= max_lr ({self.max_lr}), got {self.min_lr}")
        self.best = math.inf
        self.good = self.bad = self.cooldown_left = self.intervals = 0

    def _current(self) -> float:
        if self.intervals < self.warmup:
            return self.lr * (self.intervals + 1) / (self.warmup + 1)
        return self.lr

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        return Segment.constant(self._current(), state.interval)

    def observe(self, state: TrainingState) -> None:
        self.intervals += 1
        if state.rolled_back:
            self.lr = max(self.lr * self.factor, self.min_lr)
            self.good = self.bad = 0
            return
        loss = state.loss_mean
        if loss < self.best * (1.0 - self.threshold):
            self.best, self.good, self.bad = loss, self.good + 1, 0
        else:
            self.good, self.bad = 0, self.bad + 1
        if self.intervals <= self.warmup:
            return
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.good = self.bad = 0
            return
        if self.good > self.patience:
            self.lr = min(self.lr / self.factor, self.max_lr)
        elif self.bad > self.patience:
            self.lr = max(self.lr * self.factor, self.min_lr)
        else:
            return
        self.good = self.bad = 0
        self.cooldown_left = self.cooldown

    def state_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k) for k in ("lr", "best", "good", "bad", "cooldown_left", "intervals")
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
