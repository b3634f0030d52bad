"""A Segment: what a controller hands the session for the next stretch of training."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autolr.checks import check_int, check_positive
from autolr.loop.collapse import check_undo
from autolr.loop.stepper import Plan
from autolr.schedules.base import Schedule
from autolr.schedules.basic import constant


@dataclass(frozen=True)
class Segment:
    """A schedule over the next ``steps`` steps, in local time (its step 0 is the first).

    Attributes:
        schedule: the base LR at local step k is ``schedule(k)``.
        steps: how many optimizer steps the segment asks for (>= 1).
        lr_scale: optional per-param-group factors on the base LR for this segment, on top
            of each group's own ``lr_scale`` (layer-wise LR).
        undo: optional collapse guard: the session rolls the segment back once it gives back
            more than this fraction of the training's progress (see ``autolr.loop.collapse``).
        catch_divergence: the session rolls the segment back (charged) on a divergence too
            (a non-finite or blown-up loss), rather than ending the run, whether or not the
            session rescues; the controller sees ``rolled_back`` and must lower its LR.
    """

    schedule: Schedule
    steps: int
    lr_scale: tuple[float, ...] | None = None
    undo: float | None = None
    catch_divergence: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise ValueError(f"Segment.schedule must be a Schedule, got {self.schedule!r}")
        object.__setattr__(self, "steps", check_int("steps", self.steps, 1))
        if self.lr_scale is not None:
            scale = tuple(check_positive(f"lr_scale[{i}]", m) for i, m in enumerate(self.lr_scale))
            object.__setattr__(self, "lr_scale", scale)
        object.__setattr__(self, "undo", check_undo(self.undo))
        if not isinstance(self.catch_divergence, bool):
            raise ValueError(
                f"Segment.catch_divergence must be true or false, got {self.catch_divergence!r}"
            )

    @classmethod
    def constant(cls, lr: float, steps: int, lr_scale: Sequence[float] | None = None) -> Segment:
        """A segment at one LR."""
        return cls(constant(lr=lr), steps, None if lr_scale is None else tuple(lr_scale))

    def lrs(self) -> np.ndarray:
        """The base LR at each of the segment's steps (float64)."""
        return self.schedule.values(np.arange(self.steps))

    def plan(
        self,
        n: int,
        group_scale: Sequence[float],
        min_lr: float = 0.0,
        max_lr: float = math.inf,
    ) -> Plan:
        """The first ``n`` steps as the stepper writes them: base LRs clipped to
        ``[min_lr, max_lr]``, momenta (or None), and per-group scales (the groups' own
        ``group_scale`` times this segment's ``lr_scale``)."""
        if not min_lr <= max_lr:  # np.clip would silently return max_lr
            raise ValueError(f"LR bounds are empty: min_lr {min_lr} > max_lr {max_lr}")
        t = np.arange(n)
        asked = self.schedule.values(t)
        lrs = np.clip(asked, min_lr, max_lr)
        mom = self.schedule.momentum
        if self.lr_scale is None:
            scale = tuple(group_scale)
        elif len(self.lr_scale) != len(group_scale):
            raise ValueError(
                f"segment has {len(self.lr_scale)} lr_scale factors but the optimizer has "
                f"{len(group_scale)} param groups"
            )
        else:
            scale = tuple(a * b for a, b in zip(group_scale, self.lr_scale, strict=True))
        return Plan(lrs, None if mom is None else mom.values(t), scale, float(asked.max()))
