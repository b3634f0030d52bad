"""Cyclical schedules that also cycle momentum: `cyclic` (Smith 2017) and `one_cycle` (Smith 2018).

Both mirror torch's closed forms (``CyclicLR``, ``OneCycleLR`` with ``cycle_momentum=True``)
operation for operation, so values agree with torch to the last few ulps. Momentum moves
opposite to the learning rate; it is returned as ``Schedule.momentum``.
"""

from __future__ import annotations

import math

import numpy as np

from autolr.checks import check_choice, check_int, check_nonnegative, check_positive, check_range
from autolr.schedules.base import Curve, Schedule, family

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
ANNEALS = ("cos", "linear")


def _check_momenta(base_momentum: float, max_momentum: float) -> tuple[float, float]:
    lo = check_range("base_momentum", base_momentum, 0.0, 1.0)
    hi = check_range("max_momentum", max_momentum, 0.0, 1.0)
    if lo > hi:
        raise ValueError(f"base_momentum must be <= max_momentum ({hi!r}), got {lo!r}")
    return lo, hi


@family("cyclic")
def cyclic(
    base_lr: float,
    max_lr: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
) -> Schedule:
    """Cyclical learning rate between ``base_lr`` and ``max_lr`` (torch ``CyclicLR``).

    With u = step_size_up, d = step_size_down (default u), L = u + d:

        cycle(t) = floor(1 + t / L),   x(t) = 1 + t / L - cycle(t)
        h(t)     = x / (u / L)               if x <= u / L   (rising)
                   (x - 1) / (u / L - 1)     otherwise       (falling)
        lr(t)    = base_lr + (max_lr - base_lr) * h(t) * scale
        m(t)     = max_momentum - (max_momentum - base_momentum) * h(t) * scale

    scale is 1 (``triangular``), 1 / 2^(cycle - 1) (``triangular2``, halves each cycle) or
    gamma^t (``exp_range``, per step).

    Args:
        base_lr: lowest learning rate, at the start of each cycle.
        max_lr: highest learning rate, reached after ``step_size_up`` steps.
        step_size_up: steps of the rising half-cycle.
        step_size_down: steps of the falling half-cycle; None means ``step_size_up``.
        mode: ``triangular``, ``triangular2`` or ``exp_range``.
        gamma: per-step decay of the amplitude in ``exp_range``, in (0, 1].
        base_momentum, max_momentum: momentum range; momentum is highest when lr is lowest.
    """
    base_lr = check_nonnegative("base_lr", base_lr)
    max_lr = check_positive("max_lr", max_lr)
    if base_lr > max_lr:
        raise ValueError(f"base_lr must be <= max_lr ({max_lr!r}), got {base_lr!r}")
    up = float(check_int("step_size_up", step_size_up, 1))
    down = up if step_size_down is None else float(check_int("step_size_down", step_size_down, 1))
    mode = check_choice("mode", mode, CYCLIC_MODES)
    gamma = check_range("gamma", gamma, 0.0, 1.0, low_open=True)
    base_m, max_m = _check_momenta(base_momentum, max_momentum)

    total_size = up + down
    step_ratio = up / total_size

    def height(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # (fraction of the way from base to peak, the mode's amplitude scale)
        cycle = np.floor(1 + t / total_size)
        x = 1.0 + t / total_size - cycle
        rising = x <= step_ratio
        frac = np.where(rising, x / step_ratio, (x - 1) / (step_ratio - 1))
        if mode == "triangular":
            return frac, np.ones_like(frac)
        if mode == "triangular2":
            return frac, 2.0 ** (1 - cycle)  # exactly torch's 1 / 2^(cycle - 1)
        return frac, gamma ** t.astype(np.float64)

    def curve(t: np.ndarray) -> np.ndarray:
        frac, amp = height(t)
        return base_lr + (max_lr - base_lr) * frac * amp

    def momentum(t: np.ndarray) -> np.ndarray:
        frac, amp = height(t)
        return max_m - (max_m - base_m) * frac * amp

    return Schedule(curve, {}, momentum=Schedule(momentum, {"name": "cyclic.momentum"}))


def _anneal(kind: str, start: float, end: float, pct: np.ndarray) -> np.ndarray:
    if kind == "cos":
        return end + (start - end) / 2.0 * (np.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


@family("one_cycle")
def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> Schedule:
    """The 1cycle policy (torch ``OneCycleLR``), held at its final value after the last step.

    With T = total_steps, p = pct_start, lr0 = max_lr / div_factor and
    lr_min = lr0 / final_div_factor, the phases end at steps (torch's floats)

        two-phase:   e1 = p*T - 1,              e2 = T - 1
        three-phase: e1 = p*T - 1, e2 = 2*p*T - 2, e3 = T - 1

    and each anneals from its start value a to its end value b as pct goes 0 -> 1 over
    ``(e_{i-1}, e_i]`` (e_0 = 0):

        cos:    b + (a - b) / 2 * (cos(pi * pct) + 1)
        linear: (b - a) * pct + a

    lr goes lr0 -> max_lr -> lr_min (two-phase) or lr0 -> max_lr -> lr0 -> lr_min
    (three-phase); momentum goes max -> base -> max (-> max). For t >= T - 1 the value
    is the one at T - 1 (torch raises past T and extrapolates at T).

    Args:
        max_lr: peak learning rate.
        total_steps: number of steps in the cycle.
        pct_start: fraction of the steps spent rising, in (0, 1); p*T must be > 1
            (and 2*p*T - 1 < T with ``three_phase``) so that every phase spans steps.
        anneal: ``cos`` or ``linear`` (torch's ``anneal_strategy``).
        div_factor: lr0 = max_lr / div_factor.
        final_div_factor: lr_min = lr0 / final_div_factor.
        three_phase: anneal back to lr0 before the final decay (fast.ai's variant).
        base_momentum, max_momentum: momentum range, lowest at the peak lr.
    """
    max_lr = check_positive("max_lr", max_lr)
    total = check_int("total_steps", total_steps, 1)
    pct_start = check_range("pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
    anneal = check_choice("anneal", anneal, ANNEALS)
    div_factor = check_positive("div_factor", div_factor)
    final_div_factor = check_positive("final_div_factor", final_div_factor)
    if not isinstance(three_phase, bool | np.bool_):
        raise ValueError(f"three_phase must be a bool, got {three_phase!r}")
    base_m, max_m = _check_momenta(base_momentum, max_momentum)
    if pct_start * total <= 1:
        raise ValueError(
            f"pct_start must be > 1 / total_steps ({total}) so the rise spans a step, "
            f"got {pct_start!r}"
        )
    if three_phase and 2 * pct_start * total - 1 >= total:
        raise ValueError(
            f"pct_start must leave room for the third phase (2 * pct_start * total_steps - 1 "
            f"< total_steps = {total}), got {pct_start!r}"
        )

    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    first = float(pct_start * total) - 1
    if three_phase:
        ends = [first, float(2 * pct_start * total) - 2, total - 1]
        lrs = [(initial_lr, max_lr), (max_lr, initial_lr), (initial_lr, min_lr)]
        moms = [(max_m, base_m), (base_m, max_m), (max_m, max_m)]
    else:
        ends = [first, total - 1]
        lrs = [(initial_lr, max_lr), (max_lr, min_lr)]
        moms = [(max_m, base_m), (base_m, max_m)]

    def phased(values: list[tuple[float, float]]) -> Curve:
        def curve(t: np.ndarray) -> np.ndarray:
            step = np.minimum(t, total - 1)
            out = np.empty(t.shape, dtype=np.float64)
            todo = np.ones(t.shape, dtype=bool)
            start_step = 0.0
            for i, (end_step, (a, b)) in enumerate(zip(ends, values, strict=True)):
                here = todo & (step <= end_step) if i < len(ends) - 1 else todo
                if here.any():
                    pct = (step[here] - start_step) / (end_step - start_step)
                    out[here] = _anneal(anneal, a, b, pct)
                todo &= ~here
                start_step = end_step
            return out

        return curve

    momentum = Schedule(phased(moms), {"name": "one_cycle.momentum"})
    return Schedule(phased(lrs), {}, momentum=momentum)
