"""Schedules without a fixed end: `wsm` (warmup-stable; merging does the decay) and `infinite`.

`wsm` is the LR side of WSM (Tian et al. 2025, "WSM: Decay-Free Learning Rate Schedule via
Checkpoint Merging for LLM Pre-training", arXiv 2507.17634): a warmup, then the peak for
good. The decay it leaves out is emulated by checkpoint merging, the run key ``merge``
(``autolr.loop.merge``). `infinite` is the schedule of Ibrahim et al. 2024 ("Simple and
Scalable Strategies to Continually Pre-train Large Language Models", arXiv 2403.08763):
warmup, a cooldown to a constant, a constant phase as long as training lasts, and a short
anneal started whenever a finished model is wanted. No upstream library implements either,
so their tests check hand-computed values.
"""

from __future__ import annotations

import math

import numpy as np

from autolr.checks import check_choice, check_int, check_nonnegative, check_positive, check_range
from autolr.schedules.base import Schedule, check_warmup, family, with_warmup
from autolr.schedules.basic import constant

SHAPES = ("cosine", "linear", "sqrt")  # a cooldown's shape
ANNEALS = ("exp", *SHAPES)


def shape(kind: str, p: np.ndarray) -> np.ndarray:
    """A decay shape on progress ``p`` in [0, 1], from 1 at p = 0 to 0 at p = 1.

    cosine: (1 + cos(pi p)) / 2     linear: 1 - p     sqrt: 1 - sqrt(p)  (Hägele et al.'s 1-sqrt)
    """
    if kind == "cosine":
        return 0.5 * (1.0 + np.cos(math.pi * p))
    if kind == "linear":
        return 1.0 - p
    return 1.0 - np.sqrt(p)


@family("wsm")
def wsm(
    lr: float, warmup_steps: int = 0, warmup_start_lr: float = 0.0, warmup: str = "linear"
) -> Schedule:
    """Warmup-stable, no decay: the LR of WSM (Tian et al. 2025).

        lr(t) = warmup(t)   t < w      (from warmup_start_lr to lr)
                lr          t >= w

    The same values as ``constant``. The name says that the run merges checkpoints (the run
    key ``merge``, which a run config with this schedule must set): WSM replaces the decay
    by a weighted average of the last checkpoints.

    Args:
        lr: the peak (stable) learning rate.
        warmup_steps, warmup_start_lr, warmup: the common warmup options.
    """
    # constant's values and checks; the family wrapper records the spec under "wsm"
    return constant(lr, warmup_steps, warmup_start_lr, warmup)


@family("infinite")
def infinite(
    lr: float,
    cooldown_steps: int,
    constant_lr: float | None = None,
    constant_ratio: float | None = None,
    anneal_start: int | None = None,
    anneal_steps: int | None = None,
    min_lr: float = 0.0,
    cooldown: str = "cosine",
    anneal: str = "exp",
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """The infinite LR schedule of Ibrahim et al. 2024 (arXiv 2403.08763).

    With w = warmup_steps, C = cooldown_steps, c = constant_lr (or constant_ratio * lr),
    A = anneal_start, D = anneal_steps and f a shape (``shape``):

        lr(t) = warmup(t)                         t < w        (from warmup_start_lr to lr)
                c + (lr - c) * f((t - w) / C)     w <= t < w + C          (cooldown)
                c                                 w + C <= t < A          (constant)
                c * (min_lr / c) ** p             A <= t < A + D   (anneal 'exp')
                min_lr + (c - min_lr) * f(p)      A <= t < A + D   (anneal 'cosine'/'linear'/'sqrt')
                min_lr                            t >= A + D
        where p = (t - A) / D.

    The paper's cooldown is cosine from the peak to c, and its anneal exponential from c to
    min_lr (here parametrized by its length D, reaching min_lr at A + D, as ``wsd``'s
    ``exp``); the other shapes are options. Without ``anneal_start`` the constant phase never
    ends (the schedule of a run that may be continued).

    Args:
        lr: the peak, reached at the end of the warmup.
        cooldown_steps: C >= 0, the steps from the peak down to the constant.
        constant_lr: c, in (0, lr]; or
        constant_ratio: c / lr, in (0, 1] (give one of the two: tuning the peak scales c).
        anneal_start: A >= w + C, the step where the anneal starts; None: no anneal.
        anneal_steps: D >= 1, the anneal's length (required with anneal_start).
        min_lr: the value at the end of the anneal and after, in [0, c]; > 0 for 'exp'.
        cooldown: the cooldown's shape f: cosine (the paper's), linear or sqrt.
        anneal: exp (the paper's), cosine, linear or sqrt.
        warmup_steps, warmup_start_lr, warmup: the common warmup options.
    """
    lr = check_positive("lr", lr)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup)
    n_cool = check_int("cooldown_steps", cooldown_steps, 0)
    if (constant_lr is None) == (constant_ratio is None):
        raise ValueError(
            "give exactly one of constant_lr and constant_ratio, got "
            f"constant_lr={constant_lr!r}, constant_ratio={constant_ratio!r}"
        )
    if constant_lr is not None:
        const = check_range("constant_lr", constant_lr, 0.0, lr, low_open=True)
    else:
        const = lr * check_range("constant_ratio", constant_ratio, 0.0, 1.0, low_open=True)
    cooldown = check_choice("cooldown", cooldown, SHAPES)
    anneal = check_choice("anneal", anneal, ANNEALS)
    min_lr = check_nonnegative("min_lr", min_lr)
    if min_lr > const:
        raise ValueError(f"min_lr must be <= the constant lr ({const!r}), got {min_lr!r}")
    stable_from = w + n_cool
    if anneal_start is None:
        if anneal_steps is not None:
            raise ValueError(f"anneal_steps needs anneal_start, got anneal_steps={anneal_steps!r}")
        a, d = None, 0
    else:
        a = check_int("anneal_start", anneal_start, stable_from)
        if anneal_steps is None:
            raise ValueError("anneal_steps is required with anneal_start")
        d = check_int("anneal_steps", anneal_steps, 1)
        if anneal == "exp" and min_lr == 0:
            raise ValueError(f"min_lr must be > 0 with anneal='exp', got {min_lr!r}")

    def after_warmup(k: np.ndarray) -> np.ndarray:
        out = np.full(k.shape, const, dtype=np.float64)
        cooling = k < n_cool
        if cooling.any():
            out[cooling] = const + (lr - const) * shape(cooldown, k[cooling] / float(n_cool))
        if a is not None:
            u = k - (a - w)
            annealing = (u >= 0) & (u < d)
            p = u[annealing] / float(d)
            if anneal == "exp":
                out[annealing] = const * (min_lr / const) ** p
            else:
                out[annealing] = min_lr + (const - min_lr) * shape(anneal, p)
            out[u >= d] = min_lr
        return out

    return Schedule(with_warmup(after_warmup, lr, w, start, kind), spec={})
