"""Step-wise families: constant, step, multistep, exponential, piecewise, piecewise_linear.

Each family matches its PyTorch namesake (``StepLR``, ``MultiStepLR``, ``ExponentialLR``) in
closed form. Every family but ``piecewise`` and ``piecewise_linear`` takes the common warmup
options as its last keyword arguments; the decay then sees ``t - warmup_steps``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autolr.checks import check_int, check_nonnegative, check_positive
from autolr.schedules.base import Schedule, check_warmup, family, with_warmup


def _check_int_list(name: str, value: object, minimum: int) -> list[int]:
    if not isinstance(value, list | tuple | np.ndarray):
        raise ValueError(f"{name} must be a list of integers, got {value!r}")
    return [check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value)]


@family("constant")
def constant(
    lr: float, warmup_steps: int = 0, warmup_start_lr: float = 0.0, warmup: str = "linear"
) -> Schedule:
    """lr(t) = lr.

    With a warmup this is HF's ``constant_with_warmup``.
    """
    lr = check_positive("lr", lr)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup)

    def curve(t: np.ndarray) -> np.ndarray:
        return np.full(t.shape, lr)

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})


@family("step")
def step(
    lr: float,
    step_size: int,
    gamma: float = 0.1,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = lr * gamma ** floor(t / step_size)  (torch ``StepLR``).

    Args:
        lr: the value at step 0.
        step_size: steps between two decays (int >= 1).
        gamma: the factor applied at each decay (> 0).
    """
    lr = check_positive("lr", lr)
    step_size = check_int("step_size", step_size, 1)
    gamma = check_positive("gamma", gamma)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup)

    def curve(t: np.ndarray) -> np.ndarray:
        return lr * gamma ** (t // step_size)

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})


@family("multistep")
def multistep(
    lr: float,
    milestones: Sequence[int],
    gamma: float = 0.1,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = lr * gamma ** #{m in milestones : m <= t}  (torch ``MultiStepLR``).

    Milestones may come in any order; a milestone listed twice decays twice, as in torch.

    Args:
        lr: the value at step 0.
        milestones: the steps at which to decay (a non-empty list of ints >= 1).
        gamma: the factor applied at each milestone (> 0).
    """
    lr = check_positive("lr", lr)
    ms = np.array(sorted(_check_int_list("milestones", milestones, 1)), dtype=np.int64)
    if ms.size == 0:
        raise ValueError(f"milestones must be a non-empty list of integers, got {milestones!r}")
    gamma = check_positive("gamma", gamma)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup)

    def curve(t: np.ndarray) -> np.ndarray:
        return lr * gamma ** np.searchsorted(ms, t, side="right")

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})


@family("exponential")
def exponential(
    lr: float,
    gamma: float,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    warmup: str = "linear",
) -> Schedule:
    """lr(t) = lr * gamma ** t  (torch ``ExponentialLR``).

    Args:
        lr: the value at step 0.
        gamma: the factor applied at every step (> 0).
    """
    lr = check_positive("lr", lr)
    gamma = check_positive("gamma", gamma)
    w, start, kind = check_warmup(warmup_steps, warmup_start_lr, warmup)

    def curve(t: np.ndarray) -> np.ndarray:
        return lr * gamma**t

    return Schedule(with_warmup(curve, lr, w, start, kind), spec={})


@family("piecewise")
def piecewise(boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """lr(t) = values[i] for boundaries[i-1] <= t < boundaries[i].

    That is ``values[0]`` before ``boundaries[0]`` and ``values[-1]`` from ``boundaries[-1]``
    on.

    Args:
        boundaries: strictly increasing ints >= 1.
        values: ``len(boundaries) + 1`` numbers >= 0.
    """
    bs = _check_int_list("boundaries", boundaries, 1)
    for i in range(1, len(bs)):
        if bs[i] <= bs[i - 1]:
            raise ValueError(
                f"boundaries must be strictly increasing, got {bs[i]} after {bs[i - 1]}"
            )
    if not isinstance(values, list | tuple | np.ndarray):
        raise ValueError(f"values must be a list of numbers, got {values!r}")
    vs = np.array([check_nonnegative(f"values[{i}]", v) for i, v in enumerate(values)])
    if len(vs) != len(bs) + 1:
        raise ValueError(
            f"values must have len(boundaries) + 1 = {len(bs) + 1} entries, got {len(vs)}"
        )
    edges = np.array(bs, dtype=np.int64)

    def curve(t: np.ndarray) -> np.ndarray:
        return vs[np.searchsorted(edges, t, side="right")]

    return Schedule(curve, spec={})


@family("piecewise_linear")
def piecewise_linear(steps: Sequence[int], values: Sequence[float]) -> Schedule:
    """lr(t) = linear interpolation between the knots (steps[i], values[i]).

    lr(t) = values[i] + (values[i+1] - values[i]) * (t - steps[i]) / (steps[i+1] - steps[i])
    for steps[i] <= t <= steps[i+1]; ``values[0]`` before ``steps[0]`` and ``values[-1]``
    after ``steps[-1]`` (``np.interp``; optax ``piecewise_interpolate_schedule`` with linear
    interpolation on absolute values). ``autolr law optimize`` writes its schedules in this
    family.

    Args:
        steps: the knots, strictly increasing ints >= 0 (at least one).
        values: the LR at each knot, numbers >= 0, as many as ``steps``.
    """
    xs = _check_int_list("steps", steps, 0)
    if not xs:
        raise ValueError(f"steps must be a non-empty list of integers, got {steps!r}")
    for i in range(1, len(xs)):
        if xs[i] <= xs[i - 1]:
            raise ValueError(f"steps must be strictly increasing, got {xs[i]} after {xs[i - 1]}")
    if not isinstance(values, list | tuple | np.ndarray):
        raise ValueError(f"values must be a list of numbers, got {values!r}")
    vs = np.array([check_nonnegative(f"values[{i}]", v) for i, v in enumerate(values)])
    if len(vs) != len(xs):
        raise ValueError(f"values must have len(steps) = {len(xs)} entries, got {len(vs)}")
    knots = np.array(xs, dtype=np.float64)

    def curve(t: np.ndarray) -> np.ndarray:
        return np.interp(t.astype(np.float64), knots, vs)

    return Schedule(curve, spec={})
