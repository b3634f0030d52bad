"""TrainingState: what a controller sees after each interval."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np


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
