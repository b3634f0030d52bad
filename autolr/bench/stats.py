"""Benchmark statistics: confidence intervals, steps-to-target, performance profiles."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as sps

from autolr.loop.history import steps_to_target

__all__ = [
    "mean_ci",
    "median_time",
    "performance_ratios",
    "profile",
    "profile_score",
    "speedup",
    "steps_to_target",
    "welch_ci",
]


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its ``level`` confidence interval (Student t), over the
    finite values (a diverged run's NaN or inf is left out: report how many, as the report's
    seeds column does). For paired samples, pass the per-pair differences.

    half = t_{(1+level)/2, n-1} * s / sqrt(n), with s the sample standard deviation (ddof=1);
    NaN half-width for a single value.
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), math.nan
    half = sps.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def welch_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The difference of means ``mean(a) - mean(b)`` and the half-width of its ``level``
    confidence interval (Welch: unequal variances, unpaired), over each side's finite values.

    v = s_a²/n_a + s_b²/n_b, df = v² / ((s_a²/n_a)²/(n_a - 1) + (s_b²/n_b)²/(n_b - 1)),
    half = t_{(1+level)/2, df} * sqrt(v); 0 when both sides are constant (v = 0), NaN when
    either side has fewer than two values (NaN difference when either has none).
    """
    x, y = (np.asarray([v for v in s if v is not None and math.isfinite(v)]) for s in (a, b))
    if x.size == 0 or y.size == 0:
        return math.nan, math.nan
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return diff, math.nan
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if va + vb == 0:
        return diff, 0.0
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    return diff, float(sps.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb))


def median_time(times: Sequence[float]) -> float:
    """Median over seeds; +inf when at least half the seeds never reach the target."""
    t = np.asarray(times, dtype=np.float64)
    return float(np.median(t)) if t.size else math.inf


def speedup(baseline_time: float, time: float) -> float:
    """How many times faster than the baseline (both in the same unit); 0 if never."""
    if not math.isfinite(time):
        return 0.0
    if not math.isfinite(baseline_time):
        return math.inf
    return baseline_time / time


def performance_ratios(times: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """r[s][w] = t[s][w] / min_s' t[s'][w] (AlgoPerf); inf where a method never reached it.

    ``times[method][task]`` holds the tasks each method ran on; a task missing from a
    method's times is not applicable to it and is missing from its ratios too (not scored
    inf). A task no method reached gives r = inf for all that ran on it.
    """
    tasks = sorted({w for per in times.values() for w in per})
    best = {w: min((per[w] for per in times.values() if w in per), default=math.inf) for w in tasks}
    return {
        s: {
            w: t / best[w] if math.isfinite(best[w]) and math.isfinite(t) else math.inf
            for w, t in sorted(per.items())
        }
        for s, per in times.items()
    }


def profile(ratios: Mapping[str, float], taus: np.ndarray) -> np.ndarray:
    """rho(tau) = fraction of tasks with r <= tau."""
    r = np.asarray(list(ratios.values()), dtype=np.float64)
    return (r[None, :] <= taus[:, None]).mean(axis=1) if r.size else np.zeros_like(taus)


def profile_score(ratios: Mapping[str, float], r_max: float = 4.0) -> float:
    """(1 / (r_max - 1)) * integral_1^r_max rho(tau) d tau, exactly.

    For one task, integral_1^r_max 1[r <= tau] d tau = max(0, r_max - r) (r >= 1), so the
    score is the mean over tasks of max(0, r_max - r) / (r_max - 1).
    """
    r = np.asarray(list(ratios.values()), dtype=np.float64)
    if r.size == 0:
        return math.nan
    return float(np.mean(np.maximum(0.0, r_max - np.maximum(r, 1.0)) / (r_max - 1.0)))
