"""Combinators: build new schedules from old ones instead of adding special cases.

Each takes schedules (or their specs) and returns a Schedule, so combinations nest and
round-trip through ``build(sched.spec)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from autolr.checks import check_int, check_nonnegative, check_positive, check_range
from autolr.schedules.base import Schedule, as_schedule, check_warmup, family, with_warmup


def _momentum_of(parts: Sequence[Schedule], combine: Any) -> Schedule | None:
    moms = [p.momentum for p in parts]
    if not moms or any(m is None for m in moms):
        return None
    return combine(moms)


@family("join")
def join(schedules: Sequence[Any], boundaries: Sequence[int]) -> Schedule:
    """Piece schedules together: part ``i`` runs on ``[b[i-1], b[i])`` and sees ``t - b[i-1]``.

    lr(t) = s_i(t - b_{i-1})  for  b_{i-1} <= t < b_i,  with b_{-1} = 0  (optax join_schedules)

    Args:
        schedules: ``len(boundaries) + 1`` schedules or specs.
        boundaries: strictly increasing steps >= 1 where the next part starts.
    """
    if not isinstance(schedules, Sequence) or isinstance(schedules, str) or not schedules:
        raise ValueError(f"schedules must be a non-empty list, got {schedules!r}")
    parts = [as_schedule(s, f"schedules[{i}]") for i, s in enumerate(schedules)]
    if not isinstance(boundaries, Sequence) or isinstance(boundaries, str):
        raise ValueError(f"boundaries must be a list of steps, got {boundaries!r}")
    bounds = [check_int(f"boundaries[{i}]", b, 1) for i, b in enumerate(boundaries)]
    if len(parts) != len(bounds) + 1:
        raise ValueError(
            f"boundaries must have len(schedules) - 1 = {len(parts) - 1} entries, got {len(bounds)}"
        )
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"boundaries must be strictly increasing, got {bounds!r}")
    starts = np.array([0, *bounds], dtype=np.int64)

    def joined(curves: Sequence[Schedule]) -> Schedule:
        def curve(t: np.ndarray) -> np.ndarray:
            which = np.searchsorted(starts, t, side="right") - 1
            out = np.empty(t.shape, dtype=np.float64)
            for i, part in enumerate(curves):
                mask = which == i
                if mask.any():
                    out[mask] = part.values(t[mask] - starts[i])
            return out

        return Schedule(curve, {"name": "join.momentum"})

    base = joined(parts)
    return Schedule(base._curve, {}, momentum=_momentum_of(parts, joined))


@family("scale")
def scale(schedule: Any, factor: float) -> Schedule:
    """Multiply a schedule by a constant: lr(t) = factor * s(t).  Momentum is unchanged."""
    inner = as_schedule(schedule, "schedule")
    factor = check_positive("factor", factor)
    return Schedule(lambda t: factor * inner.values(t), {}, momentum=inner.momentum)


@family("clamp")
def clamp(schedule: Any, min_lr: float = 0.0, max_lr: float | None = None) -> Schedule:
    """Bound a schedule: lr(t) = min(max(s(t), min_lr), max_lr).

    Args:
        min_lr: the lower bound (>= 0).
        max_lr: the upper bound (>= min_lr), or None for no upper bound.
    """
    inner = as_schedule(schedule, "schedule")
    low = check_nonnegative("min_lr", min_lr)
    high = math.inf if max_lr is None else check_nonnegative("max_lr", max_lr)
    if high < low:
        raise ValueError(f"max_lr must be >= min_lr ({low}), got {high!r}")
    return Schedule(lambda t: np.clip(inner.values(t), low, high), {}, momentum=inner.momentum)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _uniform(seed: int, t: np.ndarray) -> np.ndarray:
    """A counter-based uniform in [-1, 1) for each step: splitmix64 of (seed, t)."""
    with np.errstate(over="ignore"):
        z = t.astype(np.uint64) * _MIX + np.uint64(seed) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 2.0 - 1.0


@family("noise")
def noise(schedule: Any, pct: float, seed: int = 0) -> Schedule:
    """Multiplicative noise that is a pure function of the step.

    lr(t) = s(t) * (1 + pct * u(seed, t)),  u uniform in [-1, 1), a hash of (seed, t)

    Args:
        pct: the relative amplitude, in [0, 1).
        seed: selects the noise sequence; the same (seed, t) always gives the same value.
    """
    inner = as_schedule(schedule, "schedule")
    pct = check_range("pct", pct, 0.0, 1.0, high_open=True)
    seed = check_int("seed", seed, 0)
    return Schedule(
        lambda t: inner.values(t) * (1.0 + pct * _uniform(seed, t)), {}, momentum=inner.momentum
    )


@family("warmup")
def warmup(
    schedule: Any, warmup_steps: int, warmup_start_lr: float = 0.0, warmup: str = "linear"
) -> Schedule:
    """Prepend a warmup to any schedule; the schedule then sees ``t - warmup_steps``.

    lr(t) = ramp(t) from warmup_start_lr to s(0)   for t < warmup_steps
    lr(t) = s(t - warmup_steps)                     otherwise
    """
    inner = as_schedule(schedule, "schedule")
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup)
    peak = inner(0)
    return Schedule(with_warmup(inner.values, peak, w, start, kind), {}, momentum=inner.momentum)


@family("shift")
def shift(schedule: Any, offset: int) -> Schedule:
    """Start a schedule part-way: lr(t) = s(t + offset).  Used to hand out segments."""
    inner = as_schedule(schedule, "schedule")
    offset = check_int("offset", offset, 0)
    mom = inner.momentum
    shifted_mom = None if mom is None else Schedule(lambda t: mom.values(t + offset), {})
    return Schedule(lambda t: inner.values(t + offset), {}, momentum=shifted_mom)
