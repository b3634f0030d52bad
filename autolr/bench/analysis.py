"""The numbers of a benchmark report, computed from the results store alone.

Per task: the target and the best tuned baseline it comes from (``autolr.bench.targets``:
fixed from the tuning runs), and per method its finals (test, with validation beside it),
steps and time to target, wall time, probes, rollbacks, divergences and collapses.
``autolr.bench.views`` adds what spans methods or tasks (profiles, the replay ablation, the
compute-inclusive view), ``autolr.bench.standings`` the summary's verdicts;
``autolr.bench.tables`` and ``figures`` render them; nothing here formats text.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autolr.bench import stats
from autolr.bench.store import ResultsStore
from autolr.bench.targets import Target, targets_for
from autolr.bench.tuning import choose_peaks
from autolr.loop.direction import Direction

# A run collapsed: its final validation metric fell short of the method's median final on
# the task by more than this fraction of the median run's progress from step 0 (the
# median over seeds of the step-0 evaluation). Progress, not the metric's scale, so one
# margin serves accuracy and losses alike. Non-finite finals are divergences, not collapses.
COLLAPSE_MARGIN = 0.5


def final_of(summary: Mapping[str, Any], what: str = "metric", split: str = "test") -> float:
    """A run's final ``what`` ("metric" or "loss") on ``split`` ("test" or "val"); NaN when
    not finite. The test value of a run made before tasks had a test split (no
    ``final_test_*`` key) is its validation value.

    The one place that falls back from test to validation: a summary that has the test key
    with a null value (a non-finite test metric) stays NaN, it does not borrow validation.
    """
    key = f"final_{split}_{what}"
    if key not in summary:
        key = f"final_val_{what}"
    value = summary.get(key)
    return float(value) if value is not None and math.isfinite(value) else math.nan


def has_test(summary: Mapping[str, Any]) -> bool:
    return "final_test_metric" in summary


@dataclass
class Row:
    """One method on one task, over its evaluation seeds (lists are per seed)."""

    method: str
    track: str
    finals: list[float] = field(default_factory=list)  # test (else validation): final_of
    val_finals: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)  # charged steps to target (inf: never)
    times: list[float] = field(default_factory=list)  # wall seconds to target
    walls: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    rollbacks: list[float] = field(default_factory=list)
    lost: list[float] = field(default_factory=list)  # steps lost to rollbacks
    starts: list[float] = field(default_factory=list)  # step-0 validation metric (NaN: none)
    diverged: int = 0
    curves: list[dict[str, np.ndarray]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    peak: float | None = None
    failed: int = 0  # this method's failed cells on the task (tuning runs included)
    collapsed: int | None = None  # None: not judged (no step-0 evaluation, or no progress)
    # the summaries' ``per_corpus`` entries, for tasks that record one (continual-lm)
    per_corpus: list[dict[str, Any]] = field(default_factory=list)
    # a population method (pbt, pb2): its members, and per seed the selected lineage's own
    # kept steps to target (``steps`` are the whole population's) and the other members'
    # charged steps over the whole run
    population: int | None = None
    lineage_steps: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """False for a method whose every cell failed: it has no numbers to report."""
        return bool(self.seeds)

    @property
    def n_finite(self) -> int:
        """Seeds whose final metric is finite: what ``mean_ci`` averages."""
        return sum(math.isfinite(f) for f in self.finals)

    @property
    def mean_ci(self) -> tuple[float, float]:
        return stats.mean_ci(self.finals)

    @property
    def val_mean_ci(self) -> tuple[float, float]:
        return stats.mean_ci(self.val_finals)

    @property
    def median_steps(self) -> float:
        return stats.median_time(self.steps)

    @property
    def median_time(self) -> float:
        return stats.median_time(self.times)


@dataclass
class TaskReport:
    """One task. Without a target (no tuned baseline finished its tuning runs with a finite
    metric) ``best_baseline`` is None and ``target`` NaN: the rows keep their finals, and
    steps to target are NaN."""

    task: str
    metric: str
    mode: str
    target: float
    best_baseline: str | None
    rows: dict[str, Row] = field(default_factory=dict)
    tuning_steps: int = 0
    tuning_wall: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)  # ResultsStore.failed_cells
    made: Target | None = None  # how the target was made
    target_seed_runs: int = 0  # of its runs (made.made_from), those on the target seeds
    tuning_by_method: dict[str, int] = field(default_factory=dict)  # charged tuning steps
    not_applicable: list[tuple[str, str]] = field(default_factory=list)  # (method, track)
    has_test: bool = False  # finals are test metrics (else validation: older runs)
    val_size: int | None = None
    test_size: int | None = None

    @property
    def direction(self) -> Direction:
        return Direction.of(self.mode)

    @property
    def has_target(self) -> bool:
        return self.best_baseline is not None

    def speedup(self, method: str) -> float:
        row = self.rows[method]
        best = self.rows.get(self.best_baseline or "")
        if best is None or not (row.finished and best.finished):
            return math.nan
        return stats.speedup(best.median_steps, row.median_steps)


# a failed cell's track, as the row it belongs to (a baseline's tuning and target-seed runs:
# its "eval" row)
ROW_TRACK = {
    "tune": "eval",
    "target": "eval",
    "eval": "eval",
    "default": "default",
    "peer": "peer",
    "self": "self",
    "replay": "replay",
}
# runs that are no row of a task's table: a tuned baseline's tuning runs and its runs on the
# target seeds (they set the target; its "eval" row has its evaluation-seed runs)
NOT_ROWS = ("tune", "target")
# the rows' tracks in the order a reader compares them: tuned baselines, untuned defaults
# (a baseline at the task's default LR), peers (self-tuning optimizers, lr_finder),
# controllers, open-loop replays
TRACK_ORDER = ("eval", "default", "peer", "self", "replay")


def track_rank(track: str) -> int:
    """A track's place in ``TRACK_ORDER`` (an unknown track goes last)."""
    return TRACK_ORDER.index(track) if track in TRACK_ORDER else len(TRACK_ORDER)


def row_order(track: str, method: str) -> tuple[int, str]:
    """The order methods are listed in, in tables and legends: by track, a replay beside
    its controller (``plateau``, ``plateau-replay``), then by label."""
    return track_rank("self" if track == "replay" else track), method


def planned(cells: list[dict[str, Any]], plan: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """The cells the suite plans now, each under the label it plans it as: ``plan`` maps a
    cell key to its method label (None: every cell, as stored).

    A key hashes a run's config, not its label, so a method's runs under earlier settings
    (same label, another config) are left out, and a stored run that the suite now plans
    under another label (the same replay of two methods' identical LR traces) is labelled
    as planned."""
    if plan is None:
        return cells
    return [{**c, "method": plan[c["key"]]} for c in cells if c["key"] in plan]


def analyse(
    store: ResultsStore, suite: str, plan: Mapping[str, str] | None = None
) -> list[TaskReport]:
    """Every task's report from the store's runs of ``suite``; with ``plan`` (key -> method
    label), only the runs the suite plans now, as it labels them (``planned``)."""
    cells = planned(store.done_cells(suite), plan)
    failures = planned(store.failed_cells(suite), plan)
    if not cells and not failures:
        raise ValueError(f"the results store holds no finished runs of suite {suite!r}")
    peaks = choose_peaks(cells)
    targets = targets_for(store, suite, cells)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    failed_by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        by_task[c["task"]].append(c)
    for c in failures:
        failed_by_task[c["task"]].append(c)
    tracks = {c["method"]: ROW_TRACK.get(c["track"], c["track"]) for c in cells + failures}
    track_of = {c["key"]: c["track"] for c in cells}
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
            if c["track"] not in NOT_ROWS:
                groups[(c["method"], c["track"])].append(c)
        made = targets.get(task)
        target = made.target if made else math.nan
        rep = TaskReport(
            task, metric, mode, target, made.method if made else None, failures=failed, made=made
        )
        if made is not None:
            rep.target_seed_runs = sum(track_of.get(k) == "target" for k in made.made_from)
        for (method, track), group in sorted(groups.items()):
            rep.rows[method] = _row(
                store, method, track, group, target, direction, peaks.get((task, method))
            )
        for c in failed:
            if c["method"] not in rep.rows:
                track = ROW_TRACK.get(c["track"], c["track"])
                rep.rows[c["method"]] = Row(c["method"], track)
            rep.rows[c["method"]].failed += 1
        ran = {m.removesuffix("-replay") for m in rep.rows} | {c["method"] for c in runs}
        # a method of the suite with no run here (inverse_sqrt on a vision task) is not
        # applicable: shown as N/A, and not counted in this task's profile denominator
        rep.not_applicable = sorted(
            (m, t) for m, t in tracks.items() if m.removesuffix("-replay") not in ran
        )
        tune = [c for c in runs if c["track"] == "tune"]
        for c in tune:
            m = c["method"]
            rep.tuning_by_method[m] = rep.tuning_by_method.get(m, 0) + c["summary"]["steps_charged"]
        rep.tuning_steps = int(sum(rep.tuning_by_method.values()))
        rep.tuning_wall = float(sum(c["summary"]["wall_time_s"] for c in tune))
        summaries = [c["summary"] for c in runs if c["track"] not in NOT_ROWS]
        rep.has_test = any(has_test(s) for s in summaries)
        rep.val_size = next((s["val_size"] for s in summaries if s.get("val_size")), None)
        rep.test_size = next((s["test_size"] for s in summaries if s.get("test_size")), None)
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
    row = Row(method, track, peak=peak)
    for c in sorted(group, key=lambda c: c["seed"]):
        s, cv = c["summary"], store.curves(c["key"])
        row.finals.append(final_of(s))
        val = final_of(s, split="val")
        row.val_finals.append(val)
        if math.isnan(target):  # no target (no tuned baseline finished): nothing to reach
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
        row.rollbacks.append(s["rollbacks"])
        row.lost.append(s.get("steps_lost", 0))
        at0 = cv["eval_step"].size and cv["eval_step"][0] == 0
        row.starts.append(float(cv["eval_metric"][0]) if at0 else math.nan)
        # a run made before summaries said it: diverged if its final is not finite
        row.diverged += int(s.get("diverged", not math.isfinite(val)))
        row.curves.append(cv)
        row.seeds.append(int(c["seed"]))
        if s.get("per_corpus"):
            row.per_corpus.append(s["per_corpus"])
        if s.get("population"):
            _population(row, s, cv, target, direction)
    row.collapsed = collapsed(row.val_finals, row.starts, direction)
    return row


def _population(
    row: Row,
    summary: Mapping[str, Any],
    cv: Mapping[str, np.ndarray],
    target: float,
    direction: Direction,
) -> None:
    """A population cell's size, lineage steps to target and the other members' cost."""
    pop = summary["population"]
    row.population = int(pop["population"])
    row.others.append(float(summary["steps_charged"] - pop["lineage_steps"]))
    if math.isnan(target):
        row.lineage_steps.append(math.nan)
    else:
        row.lineage_steps.append(
            stats.steps_to_target(cv["eval_step"], cv["eval_metric"], target, direction)
        )


def collapsed(finals: list[float], starts: list[float], direction: Direction) -> int | None:
    """How many finite ``finals`` fall short of their median by more than ``COLLAPSE_MARGIN``
    of the median's progress from step 0 (median of finite ``starts``); None when that
    progress is unknown or not positive (nothing to collapse from)."""
    f = [v for v in finals if math.isfinite(v)]
    s = [v for v in starts if math.isfinite(v)]
    if not f or not s:
        return None
    median = float(np.median(f))
    progress = direction.sign * (median - float(np.median(s)))
    if progress <= 0:
        return None
    return sum(direction.sign * (median - v) > COLLAPSE_MARGIN * progress for v in f)
