"""`optuna`: pick the LR (or a short segment schedule) by Optuna ask-and-tell, every few segments.

Every ``every``-th segment of ``interval`` steps opens an in-memory study; the segments in
between reuse its choice. Every trial is a Probe of ``trial_fraction * interval`` steps from
the same snapshot, on the same batches, charged to the budget and undone; its value is the
forecast loss at the end of the ``every`` segments the choice will run (``search.forecast``).
A diverged trial is told FAIL, so Optuna never returns it as best. The previous choice is
enqueued as the first trial (a warm start).

Probe cost: a search runs trials * trial_fraction * interval probe steps for every
every * interval steps kept, so the probes are

    p = trials * trial_fraction / every

of the kept steps, and p / (1 + p) of the charged budget (the range test aside; trial
lengths are rounded to whole steps, at least 2). The defaults (every 4, trials 4,
trial_fraction 0.125) give p = 0.125: 11% of the budget. ``every=1, trials=6,
trial_fraction=0.25``, the earlier defaults, give p = 1.5: 60% of the budget.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autolr.checks import check_choice, check_int, check_positive, check_range
from autolr.controllers.base import Controller
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState
from autolr.schedules import constant, linear
from search.forecast import FORECASTERS
from search.lr_range import check_lr_range, range_from_probe
from search.optuna_backends import SAMPLERS, make_sampler

FAMILIES = ("constant", "linear")


class OptunaController(Controller):
    """Segment-wise LR search with Optuna.

    Args:
        lr: the fallback LR (the task's lr when unset).
        interval: segment length in steps (default: the session's interval).
        every: search every this many segments (>= 1); the segments in between reuse the
            last choice. 1 searches every segment.
        trials: probes per search (>= 2).
        trial_fraction: probe length as a fraction of the segment, in (0, 1].
        sampler: "tpe", "gp" or "random".
        family: "constant" (search lr) or "linear" (search lr and end_factor: the segment
            runs lr(t) = lr * (1 + (end_factor - 1) * t / n), end_factor in [0.05, 1]).
        forecaster: as in ``autolrs`` ("exp", "power", "last").
        lr_range: (lo, hi); when None, a range test (charged) sets it.
        range_test_steps, range_ratio: as in ``autolrs``.
        seed: the sampler's seed (each segment uses seed + segment index).
    """

    reads_step_stats = False

    name = "optuna"
    needs_probe = True

    def __init__(
        self,
        lr: float | None = None,
        interval: int | None = None,
        every: int = 4,
        trials: int = 4,
        trial_fraction: float = 0.125,
        sampler: str = "tpe",
        family: str = "constant",
        forecaster: str = "exp",
        lr_range: tuple[float, float] | list[float] | None = None,
        range_test_steps: int = 50,
        range_ratio: float = 100.0,
        seed: int = 0,
    ) -> None:
        self.lr = None if lr is None else check_positive("lr", lr)
        self.interval = None if interval is None else check_int("interval", interval, 1)
        self.every = check_int("every", every, 1)
        self.trials = check_int("trials", trials, 2)
        self.trial_fraction = check_range("trial_fraction", trial_fraction, 0.0, 1.0, low_open=True)
        self.sampler = check_choice("sampler", sampler, SAMPLERS)
        self.family = check_choice("family", family, FAMILIES)
        self.forecaster = check_choice("forecaster", forecaster, tuple(FORECASTERS))
        check_lr_range(lr_range)
        self.range_test_steps = check_int("range_test_steps", range_test_steps, 5)
        self.range_ratio = check_range("range_ratio", range_ratio, 1.0, math.inf, low_open=True)
        self.seed = check_int("seed", seed, 0)
        self.lo, self.hi = (math.nan, math.nan) if lr_range is None else map(float, lr_range)
        self.segments = 0  # searches made
        self.wait = 0  # segments left to reuse the last choice before the next search
        self.best: dict[str, float] = {}
        self.log: list[dict[str, Any]] = []

    def _segment(self, params: dict[str, float], steps: int) -> Segment:
        lr = float(params["lr"])
        if self.family == "linear" and steps > 1:
            end = float(params["end_factor"])
            return Segment(linear(lr=lr, total_steps=steps, end_factor=end), steps)
        return Segment(constant(lr=lr), steps)

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        import optuna

        if probe is None:
            raise ValueError("controller 'optuna' needs probes: run it in a Session")
        if math.isnan(self.lo):
            self.lo, self.hi, _ = range_from_probe(
                probe, self.range_test_steps, self.range_ratio, self.lr
            )
        steps = self.interval or state.interval
        if self.wait > 0 and self.best:  # between searches: the last choice again
            self.wait -= 1
            return self._segment(self.best, steps)
        trial_steps = max(2, round(self.trial_fraction * steps))
        if probe.remaining < self.trials * trial_steps + steps:  # no room left to search
            fallback = self.best or {"lr": self.lr or self.lo, "end_factor": 1.0}
            return self._segment(fallback, max(1, probe.remaining))
        horizon = self.every * steps  # the steps this choice will run
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="minimize",
            sampler=make_sampler(self.sampler, self.seed + self.segments, 2),
        )
        if self.best and self.lo <= self.best["lr"] <= self.hi:
            study.enqueue_trial(self.best)
        values = []
        for _ in range(self.trials):
            trial = study.ask()
            params = {"lr": trial.suggest_float("lr", self.lo, self.hi, log=True)}
            if self.family == "linear":
                params["end_factor"] = trial.suggest_float("end_factor", 0.05, 1.0)
            res = probe.run(self._segment(params, steps), trial_steps)
            ok = not res.diverged and res.steps > 0 and bool(np.isfinite(res.losses).all())
            value = FORECASTERS[self.forecaster](res.losses, horizon) if ok else math.inf
            if math.isfinite(value):
                study.tell(trial, value)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            values.append(value)
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if done:
            self.best = {k: float(v) for k, v in study.best_trial.params.items()}
        else:  # every trial diverged: go below them all
            self.hi = min(t.params["lr"] for t in study.trials) / 4.0
            self.lo = min(self.lo, self.hi / self.range_ratio)
            self.best = {"lr": self.lo, "end_factor": 1.0}
        self.log.append({"step": state.step, "values": values, **self.best})
        self.segments += 1
        self.wait = self.every - 1
        return self._segment(self.best, steps)

    def observe(self, state: TrainingState) -> None:
        if state.rolled_back and self.best:
            self.hi = max(min(self.hi, self.best["lr"]), self.lo * 1.0001)
            self.wait = 0  # search again at once rather than reuse the rolled-back choice

    def state_dict(self) -> dict[str, Any]:
        keys = ("lo", "hi", "segments", "wait", "best", "log")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
