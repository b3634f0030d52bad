"""`fixed`: any schedule, open loop."""

from __future__ import annotations

from typing import Any

from autolr.controllers.base import CONTROLLERS, Controller
from autolr.probe import Probe
from autolr.schedules.base import build
from autolr.schedules.combinators import shift
from autolr.segment import Segment
from autolr.state import TrainingState


@CONTROLLERS.register("fixed")
class Fixed(Controller):
    """Hands out a schedule of the global step, one interval at a time.

    lr(step) = schedule(step), where ``step`` counts kept steps, so after a rollback the
    schedule resumes from the restored position.
    """

    name = "fixed"

    def __init__(self, schedule: Any) -> None:
        if schedule is None:
            raise ValueError("controller 'fixed' needs a 'schedule' spec, got None")
        try:
            self.schedule = build(schedule)
        except ValueError as err:
            raise ValueError(f"schedule: {err}") from None

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        return Segment(shift(self.schedule, state.step), state.interval)
