"""The numbers of a benchmark report, computed from the results store alone.

Per task: the best tuned baseline, the target (the final metric every evaluation seed of that
baseline reaches), and per method its finals, steps and time to target, wall time and probes;
across tasks: performance ratios; per adaptive controller: its closed loop against its
open-loop replay. ``autolr.bench.report`` renders these; nothing here formats text.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autolr.bench import stats
from autolr.bench.store import ResultsStore
from autolr.bench.tuning import choose_peaks, final_metric
from autolr.loop.direction import Direction


@dataclass
class Row:
    """One method on one task, over its evaluation seeds."""

    method: str
    track: str
    finals: list[float]
    steps: list[float]  # charged steps to target, per seed (inf: never)
    times: list[float]  # wall seconds to target, per seed
    walls: list[float]
    probes: list[float]
    diverged: int
    curves: list[dict[str, np.ndarray]]
    seeds: list[int]
    peak: float | None = None
    failed: int = 0  # this method's failed cells on the task (tuning runs included)

    @property
    def finished(self) -> bool:
        """False for a method whose every cell failed: it has no numbers to report."""
        return bool(self.finals)

    @property
    def mean_ci(self) -> tuple[float, float]:
        return stats.mean_ci(self.finals)

    @property
    def median_steps(self) -> float:
        return stats.median_time(self.steps)

    @property
    def median_time(self) -> float:
        return stats.median_time(self.times)


@dataclass
class TaskReport:
    """One task. Without a finished tuned baseline there is no target (``best_baseline``
    None, ``target`` NaN): the rows keep their finals, and steps to target are NaN."""

    task: str
    metric: str
    mode: str
    target: float
    best_baseline: str | None
    rows: dict[str, Row] = field(default_factory=dict)
    tuning_steps: int = 0
    tuning_wall: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)  # ResultsStore.failed_cells

    @property
    def direction(self) -> Direction:
        return Direction.of(self.mode)

    @property
    def has_target(self) -> bool:
        return self.best_baseline is not None

    def speedup(self, method: str) -> float:
        row = self.rows[method]
        if self.best_baseline is None or not row.finished:
            return math.nan
        return stats.speedup(self.rows[self.best_baseline].median_steps, row.median_steps)


@dataclass(frozen=True)
class ReplayComparison:
    """An adaptive controller's closed loop against its open-loop replay, seed by seed.

    ``advantage`` is the mean over paired seeds of ``sign · (closed − replay)`` (positive:
    reacting helped); ``wins`` counts seeds where the closed loop is strictly better.
    """

    task: str
    closed: Row
    replay: Row
    advantage: float
    wins: int
    pairs: int


# a failed cell's track, as the row it belongs to (a baseline's tuning runs: its "eval" row)
ROW_TRACK = {"tune": "eval", "eval": "eval", "self": "self", "replay": "replay"}


def analyse(store: ResultsStore, suite: str) -> list[TaskReport]:
    cells = store.done_cells(suite)
    failures = store.failed_cells(suite)
    if not cells and not failures:
        raise ValueError(f"the results store holds no finished runs of suite {suite!r}")
    peaks = choose_peaks(cells)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    failed_by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        by_task[c["task"]].append(c)
    for c in failures:
        failed_by_task[c["task"]].append(c)
    reports = []
    # every task with a run, finished or failed: a report is never silently short of one
    for task in sorted(set(by_task) | set(failed_by_task)):
        runs, failed = by_task[task], failed_by_task[task]
        mode, metric = (
            (runs[0]["summary"]["mode"], runs[0]["summary"]["metric"])
            if runs
            else ("max", "metric")
        )
        direction = Direction.of(mode)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for c in runs:
            if c["track"] != "tune":
                groups[(c["method"], c["track"])].append(c)
        baselines = {m: g for (m, t), g in groups.items() if t == "eval"}
        best: str | None = None
        target = math.nan
        if baselines:
            best = max(
                baselines,
                key=lambda m: (
                    direction.sign
                    * np.mean([final_metric(c["summary"], direction) for c in baselines[m]])
                ),
            )
            # the level every evaluation seed of the best tuned baseline reaches by its end
            finals = [final_metric(c["summary"], direction) for c in baselines[best]]
            target = float(direction.worst_of(finals))
        rep = TaskReport(task, metric, mode, target, best, failures=failed)
        for (method, track), group in sorted(groups.items()):
            rep.rows[method] = _row(
                store, method, track, group, target, direction, peaks.get((task, method))
            )
        for c in failed:
            if c["method"] not in rep.rows:
                track = ROW_TRACK.get(c["track"], c["track"])
                rep.rows[c["method"]] = Row(c["method"], track, [], [], [], [], [], 0, [], [])
            rep.rows[c["method"]].failed += 1
        tune = [c["summary"] for c in runs if c["track"] == "tune"]
        rep.tuning_steps = int(sum(s["steps_charged"] for s in tune))
        rep.tuning_wall = float(sum(s["wall_time_s"] for s in tune))
        reports.append(rep)
    return reports


def _row(
    store: ResultsStore,
    method: str,
    track: str,
    group: list[dict[str, Any]],
    target: float,
    direction: Direction,
    peak: float | None,
) -> Row:
    row = Row(method, track, [], [], [], [], [], 0, [], [], peak)
    for c in sorted(group, key=lambda c: c["seed"]):
        s, cv = c["summary"], store.curves(c["key"])
        row.finals.append(final_metric(s, direction))
        if math.isnan(target):  # no tuned baseline finished: no target to reach
            row.steps.append(math.nan)
            row.times.append(math.nan)
        else:
            row.steps.append(
                stats.steps_to_target(cv["eval_charged"], cv["eval_metric"], target, direction)
            )
            row.times.append(
                stats.steps_to_target(cv["eval_wall"], cv["eval_metric"], target, direction)
            )
        row.walls.append(s["wall_time_s"])
        row.probes.append(s["steps_probed"])
        row.diverged += int(s["rollbacks"] > 0)
        row.curves.append(cv)
        row.seeds.append(int(c["seed"]))
    return row


def profiles(reports: list[TaskReport]) -> dict[str, dict[str, float]]:
    """Performance ratios ``r[method][task]`` of the median charged steps to target."""
    times: dict[str, dict[str, float]] = defaultdict(dict)
    for rep in reports:
        if not rep.has_target:
            continue
        for r in rep.rows.values():
            if r.track != "replay" and r.finished:
                times[r.method][rep.task] = r.median_steps
    return stats.performance_ratios(times)


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
            wins = sum(sign * (a - b) > 0 for a, b in pairs)
            diff = sign * float(np.mean([a - b for a, b in pairs])) if pairs else math.nan
            out.append(ReplayComparison(rep.task, r, replay, float(diff), int(wins), len(pairs)))
    return out
