"""The LR range test (Smith, 2017): an exponential LR sweep, charged, then undone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autolr.checks import check_choice, check_int, check_positive, check_range
from autolr.loop.probe import Probe

if TYPE_CHECKING:
    from autolr.loop.session import Session

SUGGESTIONS = ("valley", "steepest")


@dataclass(frozen=True)
class RangeTestResult:
    """The sweep: ``lrs[i]`` was used for step i, with raw and smoothed losses.

    steepest: the LR where the smoothed loss falls fastest (torch-lr-finder: argmin of
              np.gradient over the curve, skipping 10 points at the start and 5 at the end).
    valley:   fastai's "valley": the middle of the longest decreasing run of the smoothed
              loss, taken at 1/3 + 1/6 of its length from its start.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    steepest: float
    valley: float
    stopped_early: bool

    @property
    def steps(self) -> int:
        return int(self.lrs.size)


def debiased_ema(losses: np.ndarray, beta: float = 0.9) -> np.ndarray:
    """s_i = EMA_beta(loss)_i / (1 - beta ** (i + 1)) (fastai's smoothing)."""
    out = np.empty(losses.size)
    avg = 0.0
    for i, value in enumerate(losses):
        avg = beta * avg + (1 - beta) * value
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def steepest_lr(
    lrs: np.ndarray, smoothed: np.ndarray, skip_start: int = 10, skip_end: int = 5
) -> float:
    if lrs.size <= skip_start + skip_end + 1:
        skip_start, skip_end = 0, 0
    end = lrs.size - skip_end
    seg_lrs, seg = lrs[skip_start:end], smoothed[skip_start:end]
    if seg.size < 2:
        return float(lrs[int(np.argmin(smoothed))])
    return float(seg_lrs[int(np.gradient(seg).argmin())])


def valley_lr(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    n = smoothed.size
    lds = np.ones(n, dtype=np.int64)  # longest decreasing subsequence ending at i
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if smoothed[i] < smoothed[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - int(lds[max_end])
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[min(max(idx, 0), n - 1)])


def steep_lr(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """fastai's ``steep``: lr_i at i = argmin (s_{i+1} - s_i) / (ln lr_{i+1} - ln lr_i), the
    start of the steepest descent of the smoothed loss per unit of log LR (one point: it)."""
    if smoothed.size < 2:
        return float(lrs[0])
    slopes = np.diff(smoothed) / np.diff(np.log(lrs[: smoothed.size]))
    return float(lrs[int(np.argmin(slopes))])


def fastai_window(
    lrs: np.ndarray, smoothed: np.ndarray, num_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """The part of a sweep fastai's ``lr_find`` suggests from: points ``num_steps // 10`` up
    to the last 5 (the warm-up noise and the blow-up left out), cut before a NaN. Where that
    leaves fewer than 2 points (a sweep that blew up early), the whole finite curve."""
    n = smoothed.size
    lrs, smoothed = lrs[:n], smoothed[:n]
    nan = np.flatnonzero(np.isnan(smoothed))
    window = slice(num_steps // 10, min(n - 5, int(nan[0]) if nan.size else n))
    if lrs[window].size >= 2:
        return lrs[window], smoothed[window]
    finite = np.isfinite(smoothed)
    return lrs[finite], smoothed[finite]


def suggest_lr(lrs: np.ndarray, smoothed: np.ndarray, num_steps: int, method: str) -> float:
    """fastai's suggestion from a sweep of ``num_steps`` planned steps: ``valley`` or
    ``steepest`` (fastai's ``steep``) on ``fastai_window`` of the smoothed loss."""
    check_choice("suggestion", method, SUGGESTIONS)
    w_lrs, w_loss = fastai_window(lrs, smoothed, num_steps)
    if w_loss.size == 0:
        raise ValueError("the range test gave no finite loss to suggest an LR from")
    return valley_lr(w_lrs, w_loss) if method == "valley" else steep_lr(w_lrs, w_loss)


class _SmoothedBlowUp:
    """The range test's stop rule: a non-finite loss, or the debiased EMA of the loss above
    ``diverge_th`` times its minimum so far. It keeps the smoothed curve."""

    def __init__(self, beta: float, diverge_th: float) -> None:
        self.beta, self.diverge_th = beta, diverge_th
        self.smoothed: list[float] = []
        self._avg, self._best, self._seen = 0.0, math.inf, 0

    def __call__(self, loss: float) -> bool:
        self._seen += 1
        if not math.isfinite(loss):
            return True
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        s = self._avg / (1 - self.beta**self._seen)
        self.smoothed.append(s)
        self._best = min(self._best, s)
        return s > self.diverge_th * self._best


def range_test(
    session: Session | Probe,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    beta: float = 0.98,
    diverge_th: float = 5.0,
) -> RangeTestResult:
    """Sweep lr_i = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1)) from the session's
    current point as a probe: every step is charged as ``range_test`` and the trainee is
    restored. ``session`` may be the Session or its Probe (what a controller is handed).

    The smoothed loss is a debiased EMA (fastai): s_i = EMA_beta(loss)_i / (1 - beta**(i+1)).
    The sweep stops once s_i > diverge_th * min(s) (or a loss is not finite).
    """
    start_lr = check_positive("start_lr", start_lr)
    end_lr = check_positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(f"end_lr must be > start_lr ({start_lr}), got {end_lr}")
    num_steps = check_int("num_steps", num_steps, 2)
    beta = check_range("beta", beta, 0.0, 1.0, high_open=True)
    diverge_th = check_range("diverge_th", diverge_th, 1.0, math.inf, low_open=True)
    probe = session if isinstance(session, Probe) else session.probe
    n = min(num_steps, probe.remaining)
    if n < 2:
        raise ValueError(f"the range test needs >= 2 steps of budget, {n} remain")
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(n) / (num_steps - 1))
    rule = _SmoothedBlowUp(beta, diverge_th)
    out = probe.sweep(lrs, rule, kind="range_test")
    sm = np.asarray(rule.smoothed)
    used = lrs[: sm.size]
    return RangeTestResult(
        lrs=lrs[: out.steps_run],
        losses=out.ran.copy(),
        smoothed=sm,
        steepest=steepest_lr(used, sm),
        valley=valley_lr(used, sm),
        stopped_early=out.stopped,
    )
