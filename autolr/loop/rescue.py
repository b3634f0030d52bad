"""Rescue after a divergence: the LR cap and its bound (used only when a run asks for it)."""

from __future__ import annotations

import math
from typing import Any

# A run rolled back this many times in a row at one step (by then its cap is 1/32 of the
# first failed peak) stops being rescued and ends as diverged: a rollback must not loop
# until the budget is gone.
MAX_ROLLBACKS_IN_A_ROW = 6


class Rescue:
    """After each rollback, caps later LRs at ``factor`` times the failed segment's peak;
    says when rescuing is no longer possible (``MAX_ROLLBACKS_IN_A_ROW`` in a row at one
    step, or a cap below ``min_lr``, which the bounds could not honour)."""

    def __init__(self, factor: float, min_lr: float) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"rollback_lr_factor must be in (0, 1), got {factor}")
        self.factor, self.min_lr = factor, min_lr
        self.cap = math.inf
        self._streak = (-1, 0)  # (step, rollbacks in a row there)

    def after_rollback(self, step: int, peak: float) -> str | None:
        """Lower the cap after a rollback at ``step`` of a segment peaking at ``peak``;
        return why the run must end instead, or None."""
        last, streak = self._streak
        streak = streak + 1 if last == step else 1
        self._streak = (step, streak)
        cap = peak * self.factor
        if streak >= MAX_ROLLBACKS_IN_A_ROW:
            return f"diverged: {streak} rollbacks in a row at step {step}"
        if cap < self.min_lr:
            return (
                f"diverged: the LR cap after a rollback ({cap:.3g}) fell below "
                f"min_lr ({self.min_lr:.3g}) at step {step}"
            )
        self.cap = min(self.cap, cap)
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"lr_cap": self.cap, "streak": list(self._streak)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cap = float(state["lr_cap"])
        step, streak = state.get("streak", (-1, 0))
        self._streak = (int(step), int(streak))
