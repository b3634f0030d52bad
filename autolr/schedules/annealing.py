"""Annealing families: linear, polynomial, cosine, cosine_restarts and tanh.

Each family anneals from ``lr`` towards a floor and matches its PyTorch, Hugging Face or
timm namesake in closed form. All take the common warmup options as their last keyword
arguments: the decay then sees ``t - warmup_steps`` and, where there is a ``total_steps``,
runs over ``max(1, total_steps - warmup_steps)`` steps (HF's convention).
"""

from __future__ import annotations

import numpy as np

from autolr.checks import check_int, check_nonnegative, check_number, check_positive, check_range
from autolr.schedules.base import Schedule, check_warmup, family, with_warmup


def _check_floor(name: str, value: object, lr: float) -> float:
    value = check_nonnegative(name, value)
    if value > lr:
        raise ValueError(f"{name} must be <= lr ({lr!r}), got {value!r}")
    return value


@family("linear")
def linear(
    lr: float,
    total_steps: int,
    start_factor: float = 1.0,
    end_factor: float = 0.0,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = lr * (start_factor * (T - t) + end_factor * t) / T, for t = min(t, T).

    torch ``LinearLR(start_factor, end_factor, total_iters=T)``; with a warmup and the
    default factors, HF ``linear``. A warmup rises to ``lr * start_factor``.

    Args:
        lr: the base value.
        total_steps: T, the step where the end value is reached (int >= 1).
        start_factor: the multiple of lr at step 0, in (0, 1] (torch's rule).
        end_factor: the multiple of lr from step T on, in [0, 1] (torch's rule).
    """
    lr = check_positive("lr", lr)
    total = check_int("total_steps", total_steps, 1)
    s = check_range("start_factor", start_factor, 0.0, 1.0, low_open=True)
    e = check_range("end_factor", end_factor, 0.0, 1.0)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup, total)
    n = max(1, total - w)

    def curve(t: np.ndarray) -> np.ndarray:
        t = np.minimum(t, n)
        # s * (n - t) + e * t keeps HF's (n - t) / n bit for bit when s = 1, e = 0.
        return lr * ((s * (n - t) + e * t) / n)

    return Schedule(with_warmup(curve, lr * s, w, start, kind), spec={})


@family("polynomial")
def polynomial(
    lr: float,
    total_steps: int,
    power: float = 1.0,
    end_lr: float = 0.0,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = end_lr + (lr - end_lr) * (1 - min(t, T) / T) ** power.

    torch ``PolynomialLR(total_iters=T, power)`` when ``end_lr = 0``; with a warmup, HF
    ``polynomial`` (``lr_end = end_lr``).

    Args:
        lr: the value at step 0.
        total_steps: T, the step where end_lr is reached (int >= 1).
        power: the exponent (> 0).
        end_lr: the value from step T on, in [0, lr].
    """
    lr = check_positive("lr", lr)
    total = check_int("total_steps", total_steps, 1)
    power = check_positive("power", power)
    end_lr = _check_floor("end_lr", end_lr, lr)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup, total)
    n = max(1, total - w)

    def curve(t: np.ndarray) -> np.ndarray:
        return end_lr + (lr - end_lr) * (1.0 - np.minimum(t, n) / n) ** power

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})


@family("cosine")
def cosine(
    lr: float,
    total_steps: int,
    min_lr: float = 0.0,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = min_lr + (lr - min_lr) * (1 + cos(pi * min(t, T) / T)) / 2.

    torch ``CosineAnnealingLR(T_max=T, eta_min=min_lr)`` on [0, T], then held at min_lr
    (torch's rises again); with a warmup, HF ``cosine`` / ``cosine_with_min_lr``.

    Args:
        lr: the value at step 0.
        total_steps: T, the step where min_lr is reached (int >= 1).
        min_lr: the floor, in [0, lr].
    """
    lr = check_positive("lr", lr)
    total = check_int("total_steps", total_steps, 1)
    min_lr = _check_floor("min_lr", min_lr, lr)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup, total)
    n = max(1, total - w)

    def curve(t: np.ndarray) -> np.ndarray:
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + np.cos(np.pi * np.minimum(t, n) / n))

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})


@family("cosine_restarts")
def cosine_restarts(
    lr: float,
    period: int,
    period_mult: int = 1,
    min_lr: float = 0.0,
    decay: float = 1.0,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = min_lr + (lr * decay ** i - min_lr) * (1 + cos(pi * t_i / P_i)) / 2.

    Cycle i lasts ``P_i = period * period_mult ** i`` steps and ``t_i`` counts steps since
    it began. torch ``CosineAnnealingWarmRestarts(T_0=period, T_mult=period_mult,
    eta_min=min_lr)`` when ``decay = 1``; ``decay`` scales each cycle's peak (not min_lr)
    as timm ``CosineLRScheduler``'s ``cycle_decay``. The cycles start after the warmup.

    Args:
        lr: the value at step 0.
        period: the length of the first cycle (int >= 1).
        period_mult: the growth factor of each cycle's length (int >= 1, as torch).
        min_lr: the floor, in [0, lr].
        decay: the factor applied to the peak at each restart, in (0, 1].
    """
    lr = check_positive("lr", lr)
    period = check_int("period", period, 1)
    mult = check_int("period_mult", period_mult, 1)
    min_lr = _check_floor("min_lr", min_lr, lr)
    decay = check_range("decay", decay, 0.0, 1.0, low_open=True)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup)

    def curve(t: np.ndarray) -> np.ndarray:
        if mult == 1:
            i = t // period
            since, length = t - i * period, period
        else:
            # Cycle starts period * (mult**i - 1) / (mult - 1), in exact integers.
            top = int(t.max()) if t.size else 0
            starts, length_i = [0], period
            while starts[-1] <= top:
                starts.append(starts[-1] + length_i)
                length_i *= mult
            i = np.searchsorted(np.array(starts, dtype=np.int64), t, side="right") - 1
            since = t - np.array(starts, dtype=np.int64)[i]
            length = period * np.array([mult**k for k in range(len(starts))], np.int64)[i]
        peak = lr * decay**i
        return min_lr + (peak - min_lr) * 0.5 * (1.0 + np.cos(np.pi * since / length))

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})


@family("tanh")
def tanh(
    lr: float,
    total_steps: int,
    min_lr: float = 0.0,
    lower: float = -7.0,
    upper: float = 3.0,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = min_lr + (lr - min_lr) * (1 - tanh(lower * (1 - t/T) + upper * t/T)) / 2.

    For t < T, and min_lr from T on: timm ``TanhLRScheduler(t_initial=T, lb=lower,
    ub=upper, lr_min=min_lr)`` with one cycle. The curve starts just below lr and ends
    just above min_lr, so it drops to min_lr at T (as timm's does).

    Args:
        lr: the peak value.
        total_steps: T, the length of the anneal (int >= 1).
        min_lr: the floor, in [0, lr].
        lower: the tanh argument at step 0; upper: at step T (lower < upper).
    """
    lr = check_positive("lr", lr)
    total = check_int("total_steps", total_steps, 1)
    min_lr = _check_floor("min_lr", min_lr, lr)
    lower = check_number("lower", lower)
    upper = check_number("upper", upper)
    if lower >= upper:
        raise ValueError(f"lower must be < upper ({upper!r}), got {lower!r}")
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup, total)
    n = max(1, total - w)

    def curve(t: np.ndarray) -> np.ndarray:
        frac = t / n
        out = min_lr + 0.5 * (lr - min_lr) * (1.0 - np.tanh(lower * (1.0 - frac) + upper * frac))
        return np.where(t < n, out, min_lr)

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})
