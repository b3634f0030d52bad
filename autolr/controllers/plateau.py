"""`plateau`: reduce the LR when a metric stops improving (torch ReduceLROnPlateau)."""

from __future__ import annotations

from typing import Any

from autolr.checks import check_choice, check_int, check_nonnegative, check_positive, check_range
from autolr.controllers.base import CONTROLLERS, Controller
from autolr.loop.direction import Direction
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState

MONITORS = ("train_loss", "val_loss", "val_metric")


class PlateauRule:
    """ReduceLROnPlateau's rule on a stream of metric values, one ``step`` per value.

    better(a, best): mode min, rel: a < best * (1 - threshold); min, abs: a < best - threshold;
                     mode max, rel: a > best * (1 + threshold); max, abs: a > best + threshold.
    After more than ``patience`` values that are not better (outside cooldown), the LR becomes
    max(lr * factor, min_lr) if that lowers it by more than ``eps``, and cooldown starts.
    """

    def __init__(
        self,
        lr: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        self.lr = check_positive("lr", lr)
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.factor = check_range("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = check_int("patience", patience, 0)
        self.threshold = check_nonnegative("threshold", threshold)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = check_int("cooldown", cooldown, 0)
        self.min_lr = check_nonnegative("min_lr", min_lr)
        self.eps = check_nonnegative("eps", eps)
        self.direction = Direction(self.mode)  # type: ignore[arg-type]
        self.best = self.direction.worst
        self.num_bad = 0
        self.cooldown_counter = 0

    def _is_better(self, a: float) -> bool:
        # the threshold moves the bar toward "better": * (1 ± threshold) or ± threshold
        shift = self.direction.sign * self.threshold
        bar = self.best * (1.0 + shift) if self.threshold_mode == "rel" else self.best + shift
        return bool(self.direction.better(a, bar))

    def step(self, value: float) -> float:
        """Feed one metric value; returns the (possibly reduced) LR."""
        if self._is_better(value):
            self.best = value
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad = 0
        return self.lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "best": self.best,
            "num_bad": self.num_bad,
            "cooldown_counter": self.cooldown_counter,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr, self.best = float(state["lr"]), float(state["best"])
        self.num_bad, self.cooldown_counter = int(state["num_bad"]), int(state["cooldown_counter"])


@CONTROLLERS.register("plateau")
class Plateau(Controller):
    """Constant LR, cut by ReduceLROnPlateau's rule on ``monitor`` once per interval.

    ``monitor``: "train_loss" (the interval's mean), "val_loss" or "val_metric" (fed only when
    a new evaluation has happened). ``mode`` defaults to "max" for val_metric, else "min".
    Patience and cooldown count intervals (or evaluations).
    """

    reads_step_stats = False

    name = "plateau"

    def __init__(
        self,
        lr: float | None = None,
        monitor: str = "train_loss",
        mode: str | None = None,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if lr is None:
            raise ValueError("controller 'plateau' needs lr (or a task with a default lr)")
        self.monitor = check_choice("monitor", monitor, MONITORS)
        mode = mode or ("max" if monitor == "val_metric" else "min")
        self.rule = PlateauRule(
            lr, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps
        )
        self._last_val_step: int | None = None

    @property
    def lr(self) -> float:
        return self.rule.lr

    def _value(self, state: TrainingState) -> float | None:
        if self.monitor == "train_loss":
            return state.loss_mean
        if state.val_step is None or state.val_step == self._last_val_step:
            return None
        self._last_val_step = state.val_step
        return state.val_loss if self.monitor == "val_loss" else state.val_metric

    def observe(self, state: TrainingState) -> None:
        if state.rolled_back:
            return
        value = self._value(state)
        if value is not None:
            self.rule.step(float(value))

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        return Segment.constant(self.rule.lr, state.interval)

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict(), "last_val_step": self._last_val_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])
        self._last_val_step = state["last_val_step"]
