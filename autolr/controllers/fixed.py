"""`fixed`: any schedule, open loop."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from autolr.controllers.base import CONTROLLERS, Controller
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState
from autolr.schedules.base import build, family_factory, parse_spec
from autolr.schedules.combinators import shift


@CONTROLLERS.register("fixed")
class Fixed(Controller):
    """Hands out a schedule of the global step, one interval at a time.

    lr(step) = schedule(step), where ``step`` counts kept steps, so after a rollback the
    schedule resumes from the restored position.

    A schedule spec may leave out ``lr`` and ``total_steps``: they default to the task's lr
    and the run's budget (``{name: fixed, schedule: {name: cosine}}``).
    """

    reads_step_stats = False

    name = "fixed"

    def __init__(
        self, schedule: Any, lr: float | None = None, budget_steps: int | None = None
    ) -> None:
        if schedule is None:
            raise ValueError("controller 'fixed' needs a 'schedule' spec, got None")
        if isinstance(schedule, Mapping | str):
            schedule = parse_spec(schedule)
            try:
                accepted = inspect.signature(family_factory(schedule["name"])).parameters
            except ValueError as err:
                raise ValueError(f"schedule: {err}") from None
            for key, value in (("lr", lr), ("total_steps", budget_steps)):
                if key in accepted and key not in schedule and value is not None:
                    schedule[key] = value
        try:
            self.schedule = build(schedule)
        except ValueError as err:
            raise ValueError(f"schedule: {err}") from None

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        return Segment(shift(self.schedule, state.step), state.interval)
