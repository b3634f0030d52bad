"""Action kinds: how a policy's action becomes the next interval's LR, in one place.

The env (``agents.env``) and the controllers that run a policy (``agents.policy``, so
``meta`` and ``rl``) both turn an action into a Segment with ``ActionSpec.segment``, so a
policy trained in the env runs the same way in ``autolr run``.

``continuous`` and ``discrete`` compound: ``η_t = η_{t−1} · 2^a`` with ``a ∈ [−1, 1]``
(``continuous``: ``Box(-1, 1, (1,))``) or ``a ∈ {−1, 0, 1}`` (``discrete``: ``Discrete(3)``,
``a = action − 1``), a constant LR over the interval. Nothing stops ten doublings in a row.

``residual`` modulates a base schedule over the known budget and cannot compound::

    η(k) = base(k) · 2^(r · a_t)      for every step k of interval t,  a_t ∈ Box(-1, 1, (1,))

with ``r = residual_range`` (log2 units, > 0; default 1: ×½..×2). The base peaks at the
session's initial LR (the instance's or the config's ``lr``) over its budget:

- ``wsd`` (default): ``autolr.schedules.wsd`` with a linear warmup from 0 over the first 5%
  of the budget and a linear decay to 0 over the last 20%;
- ``cosine``: ``autolr.schedules.cosine`` with the same 5% warmup, then a cosine decay to 0.

The base's clock is the *charged* step (``TrainingState.charged``: kept steps plus those a
rollback lost), the clock the budget is counted in, so the decay ends when the budget does.
The segment for interval t is the base's own values from the current charged step on,
times the interval's multiplier (not a constant at the base's value at the segment's start:
the warmup and the decay stay smooth within an interval). The worst a residual policy can do
is the base schedule ×2^±r; the Session's bounds and its cap after a rollback still apply.

A policy file records its ``ActionSpec`` (``header``): ``action``, and for ``residual`` also
``residual_range`` and ``residual_base``, so a residual policy always runs as one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from autolr.checks import check_choice, check_positive
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState
from autolr.schedules import scale, shift
from autolr.schedules.base import Schedule, build

ACTIONS = ("continuous", "discrete", "residual")
BASES = ("wsd", "cosine")
WARMUP_FRACTION = 0.05  # of the budget, both bases
DECAY_FRACTION = 0.2  # wsd's linear decay: the last 20% of the budget
FLOOR = 1e-12  # the lowest LR a compounding action proposes


def log2_multiplier(kind: str, action: Any) -> float:
    """An action as ``a``: ``discrete`` as ``action − 1 ∈ {−1, 0, 1}``, the others clipped to
    ``[−1, 1]`` (for ``residual``, the log2 multiplier is ``r · a``)."""
    if kind == "discrete":
        return float(int(np.asarray(action).reshape(-1)[0]) - 1)
    return _clip_unit(float(np.asarray(action, dtype=np.float64).reshape(-1)[0]))


def _clip_unit(a: float) -> float:
    # np.clip's result, NaN included, without its dispatch on a scalar at every decision
    return min(max(a, -1.0), 1.0)


def base_spec(kind: str, lr: float, budget: int) -> dict[str, Any]:
    """The residual base as a schedule spec (``autolr.schedules.build``): ``wsd`` or
    ``cosine`` peaking at ``lr`` over ``budget`` steps. ``agents eval`` runs it alone, as a
    fixed schedule: the policy's worst case is this ×2^±r."""
    kind = check_choice("residual_base", kind, BASES)
    warm = round(WARMUP_FRACTION * budget)
    if kind == "cosine":
        return {"name": "cosine", "lr": lr, "total_steps": budget, "warmup_steps": warm}
    decay = min(round(DECAY_FRACTION * budget), budget - warm)
    return {
        "name": "wsd",
        "lr": lr,
        "total_steps": budget,
        "warmup_steps": warm,
        "decay_steps": decay,
    }


def base_schedule(kind: str, lr: float, budget: int) -> Schedule:
    """The residual base: ``wsd`` or ``cosine`` peaking at ``lr`` over ``budget`` steps."""
    return build(base_spec(kind, lr, budget))


@functools.lru_cache(maxsize=64)
def _shared_base(kind: str, lr: float, budget: int) -> Schedule:
    # a session asks for the same base at every decision; building a schedule from its
    # spec (validation, signature binding) was most of a decision's time on fast tasks.
    # Schedules are pure functions of the step, so one object serves every decision.
    return base_schedule(kind, lr, budget)


@dataclass(frozen=True)
class ActionSpec:
    """An action kind and, for ``residual``, its range ``r`` and base (module docstring)."""

    kind: str = "continuous"
    residual_range: float = 1.0
    residual_base: str = "wsd"

    def __post_init__(self) -> None:
        check_choice("action", self.kind, ACTIONS)
        object.__setattr__(
            self, "residual_range", check_positive("residual_range", self.residual_range)
        )
        check_choice("residual_base", self.residual_base, BASES)

    @property
    def compounding(self) -> bool:
        return self.kind != "residual"

    def space(self) -> spaces.Space[Any]:
        """The env's action space: ``Discrete(3)`` or ``Box(-1, 1, (1,), float32)``."""
        if self.kind == "discrete":
            return spaces.Discrete(3)
        return spaces.Box(-1.0, 1.0, (1,), np.float32)

    def decode(self, action: Any) -> float:
        """An action of the env's space as ``a`` (``log2_multiplier``)."""
        return log2_multiplier(self.kind, action)

    def base(self, state: TrainingState) -> Schedule:
        """The residual base of this session (its initial LR and budget), in global steps."""
        return _shared_base(self.residual_base, state.initial_lr, state.budget)

    def segment(self, state: TrainingState, a: float) -> Segment:
        """The next interval's Segment after ``state`` for ``a ∈ [−1, 1]``."""
        a = _clip_unit(float(a))
        if self.compounding:
            return Segment.constant(max(state.lr * 2.0**a, FLOOR), state.interval)
        factor = 2.0 ** (self.residual_range * a)
        return Segment(scale(shift(self.base(state), state.charged), factor), state.interval)

    def header(self) -> dict[str, Any]:
        """What a policy file records of it."""
        if self.compounding:
            return {"action": self.kind}
        return {
            "action": self.kind,
            "residual_range": self.residual_range,
            "residual_base": self.residual_base,
        }

    @classmethod
    def from_header(
        cls, data: Mapping[str, Any], source: str, default: str | None = None
    ) -> ActionSpec:
        """The spec a policy file records; ``default`` is the kind of a file that records
        none (a meta policy from before action kinds). ValueError naming ``source``."""
        kind = data.get("action", default)
        try:
            if kind == "residual":
                return cls(
                    kind,
                    data.get("residual_range", 1.0),
                    data.get("residual_base", "wsd"),
                )
            return cls(kind)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    def check_expected(self, expected: str | None, source: str) -> None:
        """ValueError when a caller expects another action kind than the policy's."""
        if expected is not None and expected != self.kind:
            raise ValueError(
                f"{source} was trained with action {self.kind!r}, but action {expected!r} "
                f"was asked for: a policy runs only with the action kind it was trained on"
            )
