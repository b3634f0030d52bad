"""The law-optimal schedule: minimise a law's predicted final loss over decaying schedules.

As Luo et al. (2025) do, the LR sequence itself is optimised, held monotone (non-increasing)
after the peak, with the warmup fixed. The decay is parametrised by K knots spread evenly
from the end of the warmup to the last step, linear in between (the ``piecewise_linear``
schedule family, which ``autolr run`` accepts):

    lr(knot_j) = min_lr + (peak − min_lr)·(1 − s·Σ_{i≤j} w_i),   j = 0..K
    w = softmax(u) (K weights, Σ w = 1),   s = sigmoid(z) ∈ (0, 1)

so every value lies in [min_lr, peak], the first knot is the peak and the values never
rise. L-BFGS minimises L(steps) over (u, z) from two starts (a cosine to min_lr, and a WSD
with a linear decay over the last 20%); the lower end point wins.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from autolr.checks import check_int, check_nonnegative, check_positive
from autolr.laws.forms import one_thread
from autolr.schedules.base import Schedule
from autolr.schedules.basic import piecewise_linear

if TYPE_CHECKING:
    from autolr.laws.law import Law

DECAY_START = 0.8  # the WSD start: the decay takes the last 20% of the steps


def optimal_schedule(
    law: Law,
    steps: int,
    *,
    peak: float | None = None,
    min_lr: float = 0.0,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    knots: int = 64,
    iters: int = 200,
) -> Schedule:
    """A ``piecewise_linear`` schedule of ``steps`` steps minimising the predicted final loss.

    Args:
        law: the law to minimise.
        steps: the run's length (its budget_steps).
        peak: the LR after the warmup, the schedule's maximum (default: the largest LR of
            the runs the law was fitted on: the law knows nothing of instability, so it
            would always prefer a larger peak).
        min_lr: the floor of the decay, in [0, peak).
        warmup_steps: a linear warmup from ``warmup_start_lr`` to the peak over these steps.
        knots: K, the knots of the decay (more: finer, slower).
        iters: L-BFGS iterations per start.
    """
    steps = check_int("steps", steps, 2)
    if peak is None:
        peak = law.fit.get("peak_lr")
        if peak is None:
            raise ValueError("peak is needed: the law records no peak_lr from a fit")
    peak = check_positive("peak", peak)
    min_lr = check_nonnegative("min_lr", min_lr)
    if min_lr >= peak:
        raise ValueError(f"min_lr must be < peak ({peak!r}), got {min_lr!r}")
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    if warmup_steps > steps - 2:
        raise ValueError(f"warmup_steps must be <= steps - 2 ({steps - 2}), got {warmup_steps}")
    warmup_start_lr = check_nonnegative("warmup_start_lr", warmup_start_lr)
    if warmup_start_lr > peak:
        raise ValueError(f"warmup_start_lr must be <= peak ({peak!r}), got {warmup_start_lr!r}")
    knots = check_int("knots", knots, 1)
    iters = check_int("iters", iters, 1)
    with one_thread():
        problem = _Problem(law, steps, peak, min_lr, warmup_steps, warmup_start_lr, knots)
        best = min((problem.solve(start, iters) for start in ("cosine", "wsd")), key=lambda r: r[0])
    values = problem.values(best[1]).numpy()
    xs = problem.knot_steps.tolist()
    vs = np.clip(values, min_lr, peak).tolist()
    if warmup_steps > 0:
        xs, vs = [0, *xs], [warmup_start_lr, *vs]
    return piecewise_linear(steps=xs, values=vs)


class _Problem:
    """The final loss as a function of the decay's parameters (u, z), in torch."""

    def __init__(
        self, law: Law, steps: int, peak: float, min_lr: float, warm: int, start: float, k: int
    ) -> None:
        self.law, self.steps, self.peak, self.min_lr = law, steps, peak, min_lr
        last = steps - 1  # the 0-based step of the final loss
        # at least two knots: warmup_steps <= steps - 2 puts the last one after the first
        self.knot_steps = np.unique(np.round(np.linspace(warm, last, k + 1)).astype(np.int64))
        # each step after the warmup: the knot segment it sits in and its place there
        t = np.arange(warm, steps, dtype=np.float64)
        seg = np.searchsorted(self.knot_steps, t, side="right") - 1
        seg = np.minimum(seg, len(self.knot_steps) - 2)  # the last step ends the last segment
        left, width = self.knot_steps[seg], np.diff(self.knot_steps)[seg]
        self.seg = torch.as_tensor(seg)
        self.frac = torch.as_tensor((t - left) / width)
        ramp = [start + (peak - start) * i / warm for i in range(warm)] if warm else []
        self.warmup = torch.tensor(ramp, dtype=torch.float64)
        self.params = {k_: torch.tensor(v, dtype=torch.float64) for k_, v in law.params.items()}
        self.rows = torch.tensor([last])

    def values(self, theta: torch.Tensor) -> torch.Tensor:
        """The knot values for parameters theta = (u_1..u_K, z)."""
        w = torch.softmax(theta[:-1], 0)
        s = torch.sigmoid(theta[-1])
        f = torch.cat([torch.ones(1, dtype=theta.dtype), 1.0 - s * torch.cumsum(w, 0)])
        return self.min_lr + (self.peak - self.min_lr) * f

    def lrs(self, theta: torch.Tensor) -> torch.Tensor:
        v = self.values(theta)
        decay = v[self.seg] * (1 - self.frac) + v[self.seg + 1] * self.frac
        return torch.cat([self.warmup, decay])

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        lrs = self.lrs(theta)
        peak = len(self.warmup)  # the knots never rise, so the peak is the first decay step
        return self.law.form.curve(self.params, lrs, self.rows, peak)[0]

    def start(self, kind: str) -> torch.Tensor:
        """Parameters whose knots follow a cosine to min_lr, or a WSD's linear decay."""
        x = (self.knot_steps - self.knot_steps[0]) / max(
            1, self.knot_steps[-1] - self.knot_steps[0]
        )
        if kind == "cosine":
            f = 0.5 * (1 + np.cos(np.pi * x))
        else:
            f = np.clip((1 - x) / (1 - DECAY_START), 0.0, 1.0)
        total = 1 - 1e-3  # s: a hair short of the floor, so the logit stays finite
        w = np.maximum(-np.diff(f), 1e-6)
        w = w / w.sum()
        theta = np.concatenate([np.log(w), [math.log(total / (1 - total))]])
        return torch.tensor(theta, dtype=torch.float64, requires_grad=True)

    def solve(self, kind: str, iters: int) -> tuple[float, torch.Tensor]:
        theta = self.start(kind)
        with torch.no_grad():
            best = (float(self.loss(theta)), theta.detach().clone())
        opt = torch.optim.LBFGS([theta], max_iter=iters, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            value = self.loss(theta)
            value.backward()
            return value

        opt.step(closure)
        with torch.no_grad():
            final = float(self.loss(theta))
        if math.isfinite(final) and final < best[0]:
            best = (final, theta.detach().clone())
        return best
