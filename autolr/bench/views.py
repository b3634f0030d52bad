"""Views of a benchmark that span methods or tasks: performance profiles, the open-loop
replay ablation (paired by seed) and the compute-inclusive view (tuning grids charged).

All of them read the ``TaskReport`` s of ``autolr.bench.analysis``; ``autolr.bench.tables``
renders them.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from autolr.bench import stats
from autolr.bench.analysis import Row, TaskReport, row_order


def profiles(reports: list[TaskReport]) -> dict[str, dict[str, float]]:
    """Performance ratios ``r[method][task]`` of the median charged steps to target.

    A method that ran on a task and never reached the target (or whose every run there
    failed) has r = inf there; a task it did not run on (not applicable) is absent from its
    ratios, so it is not in that method's profile denominator.
    """
    times: dict[str, dict[str, float]] = defaultdict(dict)
    for rep in reports:
        if not rep.has_target:
            continue
        for r in rep.rows.values():
            if r.track != "replay":
                times[r.method][rep.task] = r.median_steps if r.finished else math.inf
    return stats.performance_ratios(times)


@dataclass(frozen=True)
class ReplayComparison:
    """An adaptive controller's closed loop against its open-loop replay, seed by seed.

    ``advantage`` is the mean over paired seeds of ``sign · (closed − replay)`` (positive:
    reacting helped), ``ci`` its 95% half-width from the paired differences (Student t with
    pairs − 1 degrees of freedom: the pairing removes the seed-to-seed variance that both
    sides share); ``wins`` counts seeds where the closed loop is strictly better. Pairs with
    a non-finite side are left out of the mean and counted in ``pairs`` only.
    """

    task: str
    closed: Row
    replay: Row
    advantage: float
    ci: float
    wins: int
    pairs: int


def replay_comparisons(reports: list[TaskReport]) -> list[ReplayComparison]:
    """Each self-tuning controller that has a replay, paired with it on the same seeds."""
    out = []
    for rep in reports:
        sign = rep.direction.sign
        for r in rep.rows.values():
            replay = rep.rows.get(f"{r.method}-replay")
            if r.track != "self" or replay is None or not (r.finished and replay.finished):
                continue
            closed = dict(zip(r.seeds, r.finals, strict=True))
            pairs = [
                (closed[s], f)
                for s, f in zip(replay.seeds, replay.finals, strict=True)
                if s in closed
            ]
            diffs = [sign * (a - b) for a, b in pairs]
            wins = sum(d > 0 for d in diffs)
            advantage, ci = stats.mean_ci(diffs)
            out.append(ReplayComparison(rep.task, r, replay, advantage, ci, wins, len(pairs)))
    return out


@dataclass(frozen=True)
class ComputeRow:
    """A method's charged steps to the target with its tuning included: a tuned baseline's
    whole grid (every peak × tuning seed of it) plus its median run's steps to target; a
    self-tuning method's run alone; a population's (``population``: its size) other
    members' steps until its selected lineage reached the target (all of their steps if it
    never did) plus the lineage's own. ``ratio``: ``total`` / the best baseline's."""

    task: str
    method: str
    track: str
    tuning: int
    steps: float
    total: float
    ratio: float
    population: int | None = None


def compute_inclusive(rep: TaskReport) -> list[ComputeRow]:
    """The compute-inclusive view of one task (empty without a target). Replays are left
    out: their schedule came from a controller's run, which is charged there."""
    if not rep.has_target:
        return []
    rows = []
    for r in sorted(rep.rows.values(), key=lambda r: row_order(r.track, r.method)):
        if r.track == "replay":
            continue
        tuning = rep.tuning_by_method.get(r.method, 0) if r.track == "eval" else 0
        steps = r.median_steps if r.finished else math.inf
        if r.population is not None and r.finished:
            rows.append(_population_row(rep.task, r))
            continue
        rows.append(ComputeRow(rep.task, r.method, r.track, tuning, steps, tuning + steps, 0.0))
    best = next((c.total for c in rows if c.method == rep.best_baseline), math.inf)
    return [dataclasses.replace(c, ratio=_ratio(c.total, best)) for c in rows]


def _population_row(task: str, r: Row) -> ComputeRow:
    """A population's row: its steps to target (the whole population's, in ``r.steps``)
    split into the other members' part and the selected lineage's own."""
    total, lineage = r.median_steps, stats.median_time(r.lineage_steps)
    if math.isfinite(total) and math.isfinite(lineage):
        others = round(total - lineage)
    else:  # never reached: the other members' whole run, and no steps to target
        others, lineage = round(float(np.median(r.others))), math.inf
    return ComputeRow(task, r.method, r.track, others, lineage, total, 0.0, r.population)


def _ratio(total: float, best: float) -> float:
    """total / best: inf for a method that never reached the target; NaN when the best
    baseline itself never did (nothing to compare with)."""
    if not math.isfinite(total):
        return math.inf
    if not math.isfinite(best) or best <= 0:
        return math.nan
    return total / best
