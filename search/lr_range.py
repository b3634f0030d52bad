"""The search range [lo, hi] from an LR range test run as a charged probe."""

from __future__ import annotations

import numpy as np

from autolr.loop.probe import Probe
from autolr.loop.range_test import debiased_ema, valley_lr
from autolr.loop.segment import Segment
from autolr.schedules import exponential


def check_lr_range(lr_range: object) -> None:
    """A user's search range must be ``(lo, hi)`` with 0 < lo < hi (or None: range test)."""
    if lr_range is not None and (
        not isinstance(lr_range, list | tuple)
        or len(lr_range) != 2
        or not 0 < lr_range[0] < lr_range[1]
    ):
        raise ValueError(f"lr_range must be (lo, hi) with 0 < lo < hi, got {lr_range!r}")


def range_from_probe(
    probe: Probe,
    steps: int,
    ratio: float,
    fallback: float | None = None,
    start: float = 1e-5,
    end: float = 10.0,
    cap: float = float("inf"),
) -> tuple[float, float, int]:
    """(lo, hi, steps used): sweep lr_i = start * (end / start) ** (i / (n - 1)) as a probe
    (charged as ``range_test``, stopped by the session's divergence check, undone).

    hi = max(LR of the lowest smoothed loss / 3, valley), lo = hi / ratio: the lowest point
    of a short sweep's lagging EMA overshoots, so hi stays a notch below it (Smith's one-cycle
    rule of thumb); with fewer than 3 finite losses, hi = ``fallback`` (or ``start``).
    The sweep has n = min(steps, remaining / 10) steps; hi is at most ``cap``.
    """
    n = max(2, min(steps, probe.remaining // 10))
    gamma = (end / start) ** (1.0 / (n - 1))
    res = probe.run(Segment(exponential(lr=start, gamma=gamma), n), kind="range_test")
    lrs = start * gamma ** np.arange(res.steps)
    finite = np.isfinite(res.losses)
    if finite.sum() < 3:
        hi = start if fallback is None else fallback
    else:
        sm = debiased_ema(res.losses[finite])
        used = lrs[finite]
        hi = max(float(used[int(np.argmin(sm))]) / 3.0, valley_lr(used, sm))
    hi = min(hi, cap)
    return hi / ratio, hi, res.steps
