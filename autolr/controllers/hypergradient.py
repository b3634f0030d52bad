"""`hypergradient`: multiplicative hypergradient descent on the LR (Baydin et al., 2018)."""

from __future__ import annotations

import math
from typing import Any

from autolr.checks import check_nonnegative, check_positive, check_range
from autolr.controllers.base import CONTROLLERS, Controller
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState


@CONTROLLERS.register("hypergradient")
class Hypergradient(Controller):
    """The LR follows the sign of -∂f/∂lr, measured once per interval.

    The session measures c = cos(-g_t, θ_{t-1} - θ_{t-2}) at each segment's end, the
    normalised hypergradient of Baydin et al.'s multiplicative rule (for SGD, the cosine of
    successive gradients). Once per interval:

        lr <- clip(lr * exp(clip(beta * c, -max_change, max_change)), min_lr, max_lr)

    The clamps keep the LR positive and stop it exploding. After a rollback, lr <- lr / 2.
    """

    name = "hypergradient"

    def __init__(
        self,
        lr: float | None = None,
        beta: float = 0.5,
        max_change: float = math.log(2.0),
        min_lr: float = 1e-6,
        max_lr: float = 10.0,
    ) -> None:
        if lr is None:
            raise ValueError("controller 'hypergradient' needs lr (or a task with a default lr)")
        self.lr = check_positive("lr", lr)
        self.beta = check_nonnegative("beta", beta)
        self.max_change = check_range("max_change", max_change, 0.0, 5.0, low_open=True)
        self.min_lr = check_positive("min_lr", min_lr)
        self.max_lr = check_positive("max_lr", max_lr)
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr must be <= max_lr ({self.max_lr}), got {self.min_lr}")
        self.lr = min(max(self.lr, self.min_lr), self.max_lr)

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        return Segment.constant(self.lr, state.interval)

    def observe(self, state: TrainingState) -> None:
        if state.rolled_back:
            self.lr = max(self.lr / 2.0, self.min_lr)
            return
        c = state.hypergrad_cos
        if math.isnan(c):
            return
        change = min(max(self.beta * c, -self.max_change), self.max_change)
        self.lr = min(max(self.lr * math.exp(change), self.min_lr), self.max_lr)

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr = float(state["lr"])
