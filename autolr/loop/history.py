"""History: the per-step and per-evaluation record of a run, as columns."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autolr.loop.direction import Direction

STEP_COLUMNS = ("step", "charged", "lr", "train_loss", "wall_time")
EVAL_COLUMNS = ("step", "charged", "val_loss", "val_metric", "wall_time")
TEST_KEYS = ("step", "charged", "test_loss", "test_metric")


@dataclass
class History:
    """Columns of kept steps and of evaluations.

    ``step`` is the number of kept optimizer steps after the row's step (1-based), ``charged``
    every step spent so far (probes and rollbacks included), so steps-to-target can be read in
    either currency.

    ``test`` is the one test-split evaluation of the run (``TEST_KEYS``), made by
    ``Session.finish`` after training, or None before it: it is no column, since there are
    no test curves (nothing during training may look at the test set).

    ``extras`` are further columns of the evaluations, named by the trainee
    (``Trainee.extra_metrics``, e.g. each corpus's validation bits per byte), each as long
    as ``evals``; NaN where an evaluation did not report that name.
    """

    steps: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in STEP_COLUMNS})
    evals: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in EVAL_COLUMNS})
    test: dict[str, float] | None = None
    extras: dict[str, list[float]] = field(default_factory=dict)

    def add_steps(self, **columns: np.ndarray) -> None:
        """Append a stretch of step rows at once, one array per column."""
        for c in STEP_COLUMNS:
            self.steps[c].extend(np.asarray(columns[c]).tolist())

    def add_eval(self, extras: Mapping[str, float] | None = None, **row: float) -> None:
        """Append an evaluation: ``row`` holds the ``EVAL_COLUMNS``, ``extras`` the
        trainee's named numbers measured with it."""
        for c in EVAL_COLUMNS:
            self.evals[c].append(row[c])
        self._add_extras({k: [v] for k, v in (extras or {}).items()}, 1)

    def replace_last_eval(self, **values: float) -> None:
        """Overwrite columns of the last evaluation row (a merged model's final numbers)."""
        for c, v in values.items():
            if c not in EVAL_COLUMNS or c in ("step", "charged"):
                raise ValueError(f"cannot replace {c!r} of an evaluation row")
            self.evals[c][-1] = v

    def extend(self, other: History) -> None:
        for c in STEP_COLUMNS:
            self.steps[c].extend(other.steps[c])
        for c in EVAL_COLUMNS:
            self.evals[c].extend(other.evals[c])
        self._add_extras(other.extras, len(other.evals["step"]))

    def _add_extras(self, extras: Mapping[str, Sequence[float]], n: int) -> None:
        """Append the extras of the last ``n`` evaluations (``n`` values per name), then
        NaN-pad every column to the length of ``evals``."""
        size = len(self.evals["step"])
        for name, values in extras.items():
            column = self.extras.setdefault(name, [])
            column += [math.nan] * (size - n - len(column))
            column += [float(v) for v in values]
        for column in self.extras.values():
            column += [math.nan] * (size - len(column))

    def step_array(self, column: str) -> np.ndarray:
        return np.asarray(self.steps[column], dtype=np.float64)

    def eval_array(self, column: str) -> np.ndarray:
        return np.asarray(self.evals[column], dtype=np.float64)

    @property
    def last_eval(self) -> dict[str, float] | None:
        if not self.evals["step"]:
            return None
        return {c: self.evals[c][-1] for c in EVAL_COLUMNS}

    def steps_to_target(
        self, target: float, direction: Direction | str, column: str = "step", held: bool = True
    ) -> int | None:
        """``column`` at the evaluation where the metric reaches ``target`` (and, ``held``,
        keeps it at the next evaluation), else None; see ``steps_to_target``."""
        found = steps_to_target(
            self.evals[column], self.evals["val_metric"], target, direction, held=held
        )
        return int(found) if math.isfinite(found) else None

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": {k: list(v) for k, v in self.steps.items()},
            "evals": {k: list(v) for k, v in self.evals.items()},
            "test": None if self.test is None else dict(self.test),
            "extras": {k: list(v) for k, v in self.extras.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = {c: list(state["steps"][c]) for c in STEP_COLUMNS}
        self.evals = {c: list(state["evals"][c]) for c in EVAL_COLUMNS}
        test = state.get("test")  # checkpoints from before the test split have none
        self.test = None if test is None else {k: test[k] for k in TEST_KEYS}
        # checkpoints from before extras have none
        self.extras = {k: list(v) for k, v in state.get("extras", {}).items()}


def steps_to_target(
    steps: Sequence[float],
    metrics: Sequence[float],
    target: float,
    direction: Direction | str,
    *,
    held: bool = True,
) -> float:
    """The first ``steps[i]`` whose ``metrics[i]`` reaches ``target``; +inf if none does.

    ``held`` (the benchmark's rule): the target must be held, not touched. Evaluation i
    counts only if the next evaluation (i + 1) reaches the target too; the last evaluation
    has no next one and counts on its own. So a run that touches the target by a lucky
    evaluation and loses it again is not credited with that step; it is credited at the
    first evaluation from which it reaches the target twice in a row (or at the end).
    ``held=False`` is the first touch.

    A non-finite metric (NaN, or an overflowed loss) never counts as reaching the target.
    """
    d = Direction.of(direction)
    hit = [math.isfinite(v) and bool(d.reached(v, target)) for v in metrics]
    if len(hit) != len(steps):
        raise ValueError(f"{len(steps)} steps but {len(metrics)} metrics")
    for i, step in enumerate(steps):
        if hit[i] and (not held or i + 1 == len(hit) or hit[i + 1]):
            return float(step)
    return math.inf
