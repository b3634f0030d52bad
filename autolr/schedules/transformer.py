"""Schedules from transformer training: `inverse_sqrt`, `noam` and `wsd` (warmup-stable-decay).

`inverse_sqrt` and `wsd` mirror Hugging Face's ``get_inverse_sqrt_schedule`` and
``get_wsd_schedule`` operation for operation; `noam` is the formula of Vaswani et al. (2017).
"""

from __future__ import annotations

import math

import numpy as np

from autolr.checks import check_choice, check_int, check_nonnegative, check_positive
from autolr.schedules.base import Schedule, check_warmup, family, with_warmup

DECAYS = ("linear", "cosine", "sqrt", "exp")


@family("inverse_sqrt")
def inverse_sqrt(lr: float, warmup_steps: int, timescale: int | None = None) -> Schedule:
    """Linear warmup from 0, then inverse square-root decay (HF ``inverse_sqrt``).

        lr(t) = lr * t / max(1, w)                         t < w
                lr / sqrt((t + timescale - w) / timescale)  t >= w

    so lr(w) = lr and lr(t) ~ lr * sqrt(timescale / t) later.

    Args:
        lr: peak learning rate, reached at ``t = warmup_steps``.
        warmup_steps: w, steps of the linear warmup from 0.
        timescale: decay time scale; None means ``warmup_steps``, or 10_000 when that is 0.
    """
    lr = check_positive("lr", lr)
    w = check_int("warmup_steps", warmup_steps, 0)
    scale = (w or 10_000) if timescale is None else check_int("timescale", timescale, 1)
    shift = scale - w

    def curve(t: np.ndarray) -> np.ndarray:
        out = np.empty(t.shape, dtype=np.float64)
        ramp = t < w
        out[ramp] = t[ramp].astype(np.float64) / float(max(1, w))
        out[~ramp] = 1.0 / np.sqrt((t[~ramp] + shift) / scale)
        return lr * out

    return Schedule(curve, {})


@family("noam")
def noam(d_model: int, warmup_steps: int, factor: float = 1.0) -> Schedule:
    """The Transformer schedule of Vaswani et al. (2017), "Attention is all you need".

        lr(t) = factor * d_model^-0.5 * min(s^-0.5, s * w^-1.5),   s = t + 1

    Step ``t`` counts from 0 here while the paper's step s counts from 1, so ``s = t + 1``
    (no division by zero at t = 0). The peak, factor * (d_model * w)^-0.5, is at t = w - 1.

    Args:
        d_model: model width.
        warmup_steps: w >= 1, length of the linear rise.
        factor: overall multiplier.
    """
    d_model = check_int("d_model", d_model, 1)
    w = check_int("warmup_steps", warmup_steps, 1)
    factor = check_positive("factor", factor)
    scale = factor * d_model**-0.5
    ramp_rate = float(w) ** -1.5

    def curve(t: np.ndarray) -> np.ndarray:
        s = (t + 1).astype(np.float64)
        return scale * np.minimum(s**-0.5, s * ramp_rate)

    return Schedule(curve, {})


@family("wsd")
def wsd(
    lr: float,
    total_steps: int,
    warmup_steps: int,
    decay_steps: int,
    decay: str = "linear",
    min_lr: float = 0.0,
    warmup_start_lr: float | None = None,
    warmup: str = "linear",
) -> Schedule:
    """Warmup-stable-decay (MiniCPM, Hu et al. 2024; HF ``warmup_stable_decay``).

    With w = warmup_steps, D = decay_steps, S = total_steps - w - D stable steps,
    r = min_lr / lr and, in the decay, p = (t - w - S) / max(1, D):

        lr(t) = warmup(t)                      t < w       (from warmup_start_lr to lr)
                lr                             w <= t < w + S
                lr * (f(p) * (1 - r) + r)      w + S <= t < total_steps   (linear/cosine/sqrt)
                lr * r^p                       w + S <= t < total_steps   (exp)
                lr * r                         t >= total_steps

        linear: f(p) = 1 - p     cosine: f(p) = (1 + cos(pi * p)) / 2     sqrt: f(p) = 1 - sqrt(p)

    ``exp`` is MiniCPM's exponential anneal lr * 0.5^((t - w - S) / h) with the half-life
    h = D * ln 2 / ln(lr / min_lr) chosen so that it reaches min_lr at the end of the decay,
    i.e. exactly lr * (min_lr / lr)^p; it needs min_lr > 0.

    HF's ``get_wsd_schedule(num_warmup_steps=w, num_decay_steps=D, num_training_steps=T,
    decay_type=..., min_lr_ratio=r)`` equals this with decay "sqrt" for its "1-sqrt". Its
    warmup rises from min_lr (not 0), which is why ``warmup_start_lr`` defaults to min_lr.

    Args:
        lr: the stable (peak) learning rate.
        total_steps: warmup + stable + decay steps.
        warmup_steps: steps of warmup.
        decay_steps: steps of the final decay; warmup_steps + decay_steps <= total_steps.
        decay: ``linear``, ``cosine``, ``sqrt`` (HF "1-sqrt") or ``exp``.
        min_lr: the value at the end of the decay and after, in [0, lr].
        warmup_start_lr, warmup: the warmup's start value (default: min_lr, as HF) and shape
            (linear/cosine/exp).
    """
    lr = check_positive("lr", lr)
    total = check_int("total_steps", total_steps, 1)
    min_lr = check_nonnegative("min_lr", min_lr)
    if min_lr > lr:
        raise ValueError(f"min_lr must be <= lr ({lr!r}), got {min_lr!r}")
    if warmup_start_lr is None:
        warmup_start_lr = min_lr
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup, total)
    if start > lr:
        raise ValueError(f"warmup_start_lr must be <= lr ({lr!r}), got {start!r}")
    d = check_int("decay_steps", decay_steps, 0)
    if w + d > total:
        raise ValueError(
            f"decay_steps must be <= total_steps - warmup_steps ({total - w}), got {d}"
        )
    decay = check_choice("decay", decay, DECAYS)
    if decay == "exp" and min_lr == 0:
        raise ValueError(f"min_lr must be > 0 with decay='exp', got {min_lr!r}")
    stable = total - w - d
    ratio = min_lr / lr

    def factor(p: np.ndarray) -> np.ndarray:
        if decay == "exp":
            return ratio**p
        if decay == "linear":
            f = 1.0 - p
        elif decay == "cosine":
            f = 0.5 * (1.0 + np.cos(math.pi * p))
        else:
            f = 1.0 - np.sqrt(p)
        return np.maximum(0.0, f * (1.0 - ratio) + ratio)

    def after_warmup(k: np.ndarray) -> np.ndarray:
        u = k - stable
        out = np.full(k.shape, lr * ratio, dtype=np.float64)
        out[u < 0] = lr
        decaying = (u >= 0) & (u < d)
        out[decaying] = lr * factor(u[decaying] / float(max(1, d)))
        return out

    return Schedule(with_warmup(after_warmup, lr, w, start, kind), {})
