"""A Segment: what a controller hands the session for the next stretch of training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autolr.checks import check_int, check_positive
from autolr.loop.collapse import check_undo
from autolr.schedules.base import Schedule
from autolr.schedules.basic import constant


@dataclass(frozen=True)
class Segment:
    """A schedule over the next ``steps`` steps, in local time (its step 0 is the first).

    Attributes:
        schedule: the base LR at local step k is ``schedule(k)``.
        steps: how many optimizer steps the segment asks for (>= 1).
        multipliers: optional per-param-group factors on the base LR (layer-wise LR).
        undo: optional collapse guard: the session rolls the segment back once it gives back
            more than this fraction of the training's progress (see ``autolr.loop.collapse``).
    """

    schedule: Schedule
    steps: int
    multipliers: tuple[float, ...] | None = None
    undo: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise ValueError(f"Segment.schedule must be a Schedule, got {self.schedule!r}")
        object.__setattr__(self, "steps", check_int("steps", self.steps, 1))
        if self.multipliers is not None:
            mults = tuple(
                check_positive(f"multipliers[{i}]", m) for i, m in enumerate(self.multipliers)
            )
            object.__setattr__(self, "multipliers", mults)
        object.__setattr__(self, "undo", check_undo(self.undo))

    @classmethod
    def constant(cls, lr: float, steps: int, multipliers: Sequence[float] | None = None) -> Segment:
        """A segment at one LR."""
        return cls(constant(lr=lr), steps, None if multipliers is None else tuple(multipliers))

    def lrs(self) -> np.ndarray:
        """The base LR at each of the segment's steps (float64)."""
        return self.schedule.values(np.arange(self.steps))
