"""TrainingState: what a controller sees after each interval."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from autolr.loop.stepper import SMOOTHING, Divergence, StopRule

if TYPE_CHECKING:
    from autolr.loop.ledger import Ledger
    from autolr.loop.stepstats import StepStats


@dataclass(frozen=True)
class TrainingState:
    """A read-only view of the run after the latest segment.

    Steps: ``step`` counts kept optimizer steps (where the model is); ``charged`` counts every
    step spent (kept + probe + range test + lost); ``fraction = charged / budget``.
    Loss statistics are over the last interval's per-step training losses; ``loss_slope`` is
    the least-squares slope of log(loss) per step over that interval.
    """

    step: int
    budget: int
    charged: int
    interval: int
    lr: float
    group_lrs: tuple[float, ...]
    initial_lr: float
    initial_loss: float
    loss_mean: float = math.nan
    loss_last: float = math.nan
    loss_ema: float = math.nan
    loss_std: float = math.nan
    loss_slope: float = 0.0
    best_loss: float = math.inf
    grad_norm: float = math.nan
    update_ratio: float = math.nan
    hypergrad_cos: float = math.nan
    step_decrease: float = math.nan
    step_cos: float = math.nan
    val_loss: float | None = None
    val_metric: float | None = None
    val_step: int | None = None
    diverged: bool = False
    rolled_back: bool = False
    rollbacks: int = 0
    probe_steps: int = 0
    wall_time: float = 0.0
    sharpness: float | None = None
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    @property
    def fraction(self) -> float:
        return min(1.0, self.charged / self.budget)

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.charged)

    def evolve(self, **changes: object) -> TrainingState:
        return replace(self, **changes)


def loss_stats(losses: np.ndarray) -> dict[str, float]:
    """Mean, last, std and log-loss slope of one interval's losses."""
    if losses.size == 0:
        return {}
    stats = {
        "loss_mean": float(losses.mean()),
        "loss_last": float(losses[-1]),
        "loss_std": float(losses.std()) if losses.size > 1 else 0.0,
        "loss_slope": 0.0,
    }
    if losses.size > 2:
        logl = np.log(np.maximum(losses, 1e-12))
        x = np.arange(losses.size, dtype=np.float64)
        x -= x.mean()
        stats["loss_slope"] = float((x * (logl - logl.mean())).sum() / (x * x).sum())
    return stats


def ema_update(ema: float, losses: np.ndarray, beta: float = 0.9) -> float:
    """Exponential moving average of the loss, stepped once per loss."""
    for value in losses.tolist():
        ema = value if math.isnan(ema) else beta * ema + (1.0 - beta) * value
    return ema


def log_ema_update(m: float, losses: np.ndarray) -> float:
    """The divergence rule's smoothed log loss (see ``autolr.loop.stepper.Divergence``),
    stepped once per finite loss."""
    for value in losses.tolist():
        if not math.isfinite(value):
            continue
        x = math.log(value) if value > 0 else -745.0
        m = x if math.isnan(m) else SMOOTHING * m + (1.0 - SMOOTHING) * x
    return m


class StateTracker:
    """Assembles every TrainingState of a run, in one place: the initial state, the state
    after a kept segment and the state after a rollback.

    It keeps what the states need across segments: the loss EMA (stepped once per loss,
    starting from the first loss trained on), the best interval mean (``inf`` until a
    positive finite loss is seen) and the run's first loss (the collapse guard's reference).
    The step counters (charged, probe steps, rollbacks, wall time) come from the Ledger.
    """

    def __init__(self) -> None:
        self.ema = math.nan
        self.log_ema = math.nan  # the divergence rule's smoothed log loss over kept steps
        self.best = math.inf
        self.first = math.nan

    def initial(
        self,
        *,
        budget: int,
        interval: int,
        lr: float,
        lr_scale: tuple[float, ...],
        initial_loss: float,
        val: Mapping[str, float] | None = None,
    ) -> TrainingState:
        finite = math.isfinite(initial_loss)
        self.best = initial_loss if finite and initial_loss > 0 else math.inf
        self.first = initial_loss if finite else math.nan
        self.log_ema = math.log(initial_loss) if finite and initial_loss > 0 else math.nan
        return TrainingState(
            step=0,
            budget=budget,
            charged=0,
            interval=interval,
            lr=lr,
            group_lrs=tuple(lr * s for s in lr_scale),
            initial_lr=lr,
            initial_loss=initial_loss,
            loss_mean=initial_loss,
            loss_last=initial_loss,
            loss_ema=initial_loss,
            best_loss=initial_loss,
            **_val_fields(val),
        )

    def divergence(self, factor: float, extra: StopRule | None = None) -> Divergence:
        """The stop rule of training from here: a non-finite loss, or the smoothed loss
        above ``factor`` times the best interval mean (once there is one), or ``extra``."""
        threshold = factor * self.best if 0 < self.best < math.inf else math.inf
        return Divergence(threshold, extra, log_ema=self.log_ema)

    def after_segment(
        self,
        prev: TrainingState,
        ledger: Ledger,
        losses: np.ndarray,
        lr: float,
        lr_scale: tuple[float, ...],
        *,
        stats: StepStats | None = None,
        val: Mapping[str, float] | None = None,
        sharpness: float | None = None,
        log_ema: float | None = None,
    ) -> TrainingState:
        """The state after a segment whose losses were kept (all finite in a Session; a
        user's loop may report non-finite ones, and then ``diverged`` is set). ``log_ema``
        is the smoothed log loss after these losses, when the divergence rule that watched
        them already has it."""
        summary = loss_stats(losses)
        self.ema = ema_update(self.ema, losses)
        self.log_ema = log_ema_update(self.log_ema, losses) if log_ema is None else log_ema
        finite = bool(np.isfinite(losses).all())
        if finite and summary:
            self.best = min(self.best, summary["loss_mean"])
        initial = prev.initial_loss
        if math.isnan(initial) and summary:  # a user's loop: the first interval stands in
            initial = summary["loss_mean"]
        measured: dict[str, Any] = {}
        if stats is not None:
            measured = {
                "grad_norm": stats.grad_norm,
                "update_ratio": stats.update_ratio,
                "hypergrad_cos": stats.hypergrad_cos,
                "step_decrease": stats.step_decrease,
                "step_cos": stats.step_cos,
            }
        return replace(
            prev,
            **self._counters(ledger),
            step=ledger.kept,
            lr=lr,
            group_lrs=tuple(lr * s for s in lr_scale),
            initial_loss=initial,
            loss_ema=self.ema,
            best_loss=self.best,
            diverged=not finite,
            rolled_back=False,
            sharpness=sharpness,
            losses=losses,
            **measured,
            **_val_fields(val),
            **summary,
        )

    def after_rollback(
        self, prev: TrainingState, ledger: Ledger, losses: np.ndarray
    ) -> TrainingState:
        """The state after a segment was rolled back: the model is where ``prev`` was."""
        return replace(
            prev, **self._counters(ledger), diverged=True, rolled_back=True, losses=losses
        )

    def after_divergence(self, state: TrainingState) -> TrainingState:
        """A kept segment that ended in divergence (no rescue): flagged, whatever its
        losses say (a blow-up can be finite)."""
        return replace(state, diverged=True)

    @staticmethod
    def _counters(ledger: Ledger) -> dict[str, Any]:
        return {
            "charged": ledger.charged,
            "rollbacks": ledger.rollbacks,
            "probe_steps": ledger.probes,
            "wall_time": ledger.seconds,
        }

    def state_dict(self) -> dict[str, float]:
        return {"ema": self.ema, "log_ema": self.log_ema, "best": self.best, "first": self.first}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.ema, self.best = float(state["ema"]), float(state["best"])
        self.first = float(state.get("first", math.nan))
        self.log_ema = float(state.get("log_ema", math.nan))


def _val_fields(val: Mapping[str, float] | None) -> dict[str, Any]:
    if val is None:
        return {}
    return {
        "val_loss": val["val_loss"],
        "val_metric": val["val_metric"],
        "val_step": int(val["step"]),
    }
