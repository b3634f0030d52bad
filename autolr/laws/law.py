"""``Law``: a fitted (or given) loss-curve law that predicts any schedule's curve."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autolr.checks import check_int
from autolr.laws.forms import Form, evaluate, get_form, one_thread
from autolr.schedules.base import Schedule, build


class Law:
    """A law form with its parameters (in the papers' units: LRs as the optimizer sees them).

    Attributes:
        form: the ``Form`` (``law.form.name`` is "mpl" or "tissue").
        params: ``{name: value}``, checked against the form's domains.
        fit: what the fit recorded (runs, R², settings, warnings), or {} for a given law.
    """

    def __init__(self, form: str | Form, params: Mapping[str, Any], fit: Mapping | None = None):
        self.form = form if isinstance(form, Form) else get_form(form)
        self.params = self.form.check(params)
        self.fit = dict(fit or {})

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"Law({self.form.name}: {values})"

    # ---- prediction ---------------------------------------------------------------------

    def curve(self, lrs: Any) -> np.ndarray:
        """The predicted loss at every step of an LR sequence (``lrs[j]`` is step j + 1's
        LR); NaN where the law is undefined (while the LR area is still 0)."""
        lrs = np.array(lrs, dtype=np.float64).ravel()  # a copy: torch wants a writable array
        if lrs.size == 0:
            raise ValueError("lrs must hold at least one LR")
        if not np.all(np.isfinite(lrs)) or np.any(lrs < 0):
            raise ValueError("lrs must be finite and >= 0")
        with torch.no_grad(), one_thread():
            out = evaluate(self.form, self.params, lrs).numpy().copy()
        out[~np.isfinite(out)] = np.nan
        return out

    def predict(self, schedule: Schedule | Mapping | str | Any, steps: int) -> np.ndarray:
        """The predicted loss curve of ``steps`` steps of a schedule (a Schedule, a spec, or
        an array of per-step LRs): element j is the loss at step j + 1, where the schedule's
        step j (0-based, as ``autolr run`` uses it) sets the LR."""
        steps = check_int("steps", steps, 1)
        return self.curve(schedule_lrs(schedule, steps))

    def final_loss(self, schedule: Schedule | Mapping | str | Any, steps: int) -> float:
        """The predicted loss at the last of ``steps`` steps."""
        steps = check_int("steps", steps, 1)
        lrs = schedule_lrs(schedule, steps)
        with torch.no_grad():
            return float(evaluate(self.form, self.params, lrs, [steps - 1])[0])

    def optimize(self, steps: int, **options: Any) -> Schedule:
        """The schedule of ``steps`` steps that minimises the predicted final loss
        (``autolr.laws.optimize.optimal_schedule``, whose arguments ``options`` are)."""
        from autolr.laws.optimize import optimal_schedule

        return optimal_schedule(self, steps, **options)

    # ---- files --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        from autolr.laws.io import law_to_dict

        return law_to_dict(self)

    def save(self, path: str | Path) -> None:
        from autolr.laws.io import save

        save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Law:
        from autolr.laws.io import load

        return load(path)


def schedule_lrs(schedule: Any, steps: int) -> np.ndarray:
    """The LRs of a schedule's first ``steps`` steps (a Schedule, a spec, or an array)."""
    if isinstance(schedule, Schedule | Mapping | str):
        return build(schedule).values(np.arange(steps))
    lrs = np.asarray(schedule, dtype=np.float64).ravel()
    if lrs.size < steps:
        raise ValueError(f"an LR array of {lrs.size} steps cannot predict {steps} steps")
    return lrs[:steps]
