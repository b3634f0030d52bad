"""`lr_finder`: fastai's habit (``lr_find``, then ``fit_one_cycle``) as a controller.

At its first turn it runs the LR range test (``autolr.loop.range_test``) from the initial
point as a probe: its steps are charged to the budget as ``range_test`` and the model is
restored. It takes fastai's suggestion ``η*`` from the sweep (``suggest_lr``) and then
hands out one shape over the R = budget − range-test steps that remain::

    one_cycle: one_cycle(max_lr=η*, total_steps=R)       (torch OneCycleLR's defaults)
    cosine:    cosine(lr=η*, total_steps=R, warmup_steps=round(0.05 R))

the same families, with the same defaults, as the bench's ``one_cycle`` and
``cosine-warmup`` baselines: only the peak differs (found by the test, not tuned).
"""

from __future__ import annotations

from typing import Any

from autolr.checks import check_choice, check_int, check_positive
from autolr.controllers.base import CONTROLLERS, Controller
from autolr.loop.probe import Probe
from autolr.loop.range_test import SUGGESTIONS, range_test, suggest_lr
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState
from autolr.schedules import cosine, one_cycle, shift
from autolr.schedules.base import Schedule

SHAPES = ("one_cycle", "cosine")
# fastai's LRFinder: the smoothing of its Recorder, and its stop at 4x the best smoothed loss
BETA, DIVERGE_TH = 0.98, 4.0
# as ``autolr find-lr``: fewer sweep steps make a suggestion of a few barely smoothed points
MIN_SWEEP = 20
# the fewest steps left for the shape (one_cycle needs pct_start * R > 1)
MIN_SHAPE = 10
COSINE_WARMUP = 0.05


def shape(then: str, peak: float, steps: int) -> Schedule:
    """The schedule ``then`` over ``steps`` steps at peak ``peak`` (the module's formulas)."""
    if then == "one_cycle":
        return one_cycle(max_lr=peak, total_steps=steps)
    return cosine(lr=peak, total_steps=steps, warmup_steps=round(COSINE_WARMUP * steps))


@CONTROLLERS.register("lr_finder")
class LRFinder(Controller):
    """fastai's habit: the LR range test (charged), then one shape at its suggestion.

    Args:
        then: the shape after the test: "one_cycle" (default) or "cosine".
        suggestion: fastai's "valley" (default; the middle of the longest decreasing run of
            the smoothed loss) or "steepest" (fastai's ``steep``: the steepest descent of
            the smoothed loss per unit of log LR).
        num_steps: the sweep's planned length (fastai's ``num_it``, 100; >= 20). It stops
            early once the smoothed loss passes 4x its minimum, and only the steps run are
            charged.
        start_lr, end_lr: the sweep's range, lr_i = start_lr * (end_lr / start_lr) **
            (i / (num_steps - 1)) (fastai's 1e-7 and 10).
        budget_steps: the run's budget (set by ``build_controller``); checked to leave at
            least 10 steps after the sweep.
    """

    name = "lr_finder"
    needs_probe = True
    reads_step_stats = False
    peer = True  # what a practitioner does instead of a controller: the bench's "peer" track

    def __init__(
        self,
        then: str = "one_cycle",
        suggestion: str = "valley",
        num_steps: int = 100,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        budget_steps: int | None = None,
    ) -> None:
        self.then = check_choice("then", then, SHAPES)
        self.suggestion = check_choice("suggestion", suggestion, SUGGESTIONS)
        self.num_steps = check_int("num_steps", num_steps, MIN_SWEEP)
        self.start_lr = check_positive("start_lr", start_lr)
        self.end_lr = check_positive("end_lr", end_lr)
        if self.end_lr <= self.start_lr:
            raise ValueError(f"end_lr must be > start_lr ({start_lr}), got {end_lr!r}")
        if budget_steps is not None and budget_steps - self.num_steps < MIN_SHAPE:
            raise ValueError(
                f"num_steps ({self.num_steps}) must leave at least {MIN_SHAPE} steps of "
                f"budget_steps ({budget_steps}) for the {self.then} schedule"
            )
        self.found: dict[str, Any] | None = None  # the test's outcome, once it has run
        self._schedule: Schedule | None = None

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        if self._schedule is None:
            if probe is None:
                raise ValueError(
                    "controller 'lr_finder' runs the LR range test as a probe of the Session; "
                    "it cannot run where no probe is given (autolr.attach)"
                )
            self._find(probe, state.step)
        assert self._schedule is not None and self.found is not None
        return Segment(shift(self._schedule, state.step - self.found["start"]), state.interval)

    def _find(self, probe: Probe, step: int) -> None:
        res = range_test(
            probe, self.start_lr, self.end_lr, self.num_steps, beta=BETA, diverge_th=DIVERGE_TH
        )
        used = res.lrs[: res.smoothed.size]
        both = {m: suggest_lr(used, res.smoothed, self.num_steps, m) for m in SUGGESTIONS}
        steps = probe.remaining
        if steps < MIN_SHAPE:
            raise ValueError(
                f"controller 'lr_finder': the range test left {steps} steps of budget, fewer "
                f"than the {MIN_SHAPE} the {self.then} schedule needs"
            )
        self.found = {
            "lr": both[self.suggestion],
            "valley": both["valley"],
            "steepest": both["steepest"],
            "range_steps": res.steps,
            "start": int(step),
            "steps": int(steps),
        }
        self._build()

    def _build(self) -> None:
        assert self.found is not None
        self._schedule = shape(self.then, self.found["lr"], self.found["steps"])

    @property
    def suggested_lr(self) -> float | None:
        """The peak the shape runs at (None before the test)."""
        return None if self.found is None else float(self.found["lr"])

    def stats(self) -> dict[str, float | int | None]:
        f = self.found or {}
        return {
            "suggested_lr": f.get("lr"),
            "valley_lr": f.get("valley"),
            "steepest_lr": f.get("steepest"),
            "range_test_steps": f.get("range_steps"),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"found": None if self.found is None else dict(self.found)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        found = state["found"]
        self.found = None if found is None else dict(found)
        self._schedule = None
        if self.found is not None:
            self._build()
