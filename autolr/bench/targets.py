"""Targets, set before evaluation: each task's target comes from the tuning runs alone, or
from them and confirmation runs on target seeds of its own.

As AlgoPerf sets its targets from reference runs, a suite's target per task is fixed once
its tuning phase (and, with ``target_seeds``, its target confirmation) is over, stored in
the results store (the ``targets`` table defined here, with the rule and the keys of the
runs it was made from), and reused by every later report and rerun. The
evaluation seeds never choose it: choosing the best baseline by its evaluation-seed mean and
taking its worst evaluation seed (the old rule) made the target a winner's-curse quantity of
the very runs it then judged.

The rule (``RULE``): among the tuned baselines, each at its tuned peak (``choose_peaks``:
the best mean final validation metric over the tuning seeds), the best baseline is the one
with the best such mean (a tie goes to the first label in sorted order); the target is the
final validation metric of its worst tuning seed at that peak, a level each of its tuning
runs reached by the end (with one tuning seed: that run's final metric). A task whose best
tuning runs all ended without a finite metric has no target.

With one tuning seed, that rule takes the best of a whole grid of single runs: a
winner's-curse level that runs on other seeds rarely reach. A suite with ``target_seeds``
(``RULE_CONFIRMED``) therefore runs the best baseline, chosen as above, at its tuned peak on
each target seed (cells of track ``"target"``, ``Suite.target_cells``), and the target is
the worst final validation metric over its runs at that peak on the tuning seeds and the
target seeds: a level each of them reached. The target seeds are disjoint from the
evaluation seeds and the tuning seeds, so the target is still fixed before evaluation and
independent of it. A stored target whose rule is not the one the suite now uses, or (with
target seeds) whose runs are not the ones the suite now plans, is remade.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, Text, insert, inspect, select
from sqlalchemy.exc import DatabaseError, IntegrityError

from autolr.bench.store import ResultsStore
from autolr.bench.tuning import choose_peaks, final_metric
from autolr.loop.direction import Direction

# The results store's ``targets`` table: one row per suite and task. It has a MetaData of
# its own and is created on first write (``put_target``), so a store made before it, or by
# a version without it, needs no schema version change; reading a store without it finds
# no targets.
targets_table = Table(
    "targets",
    MetaData(),
    Column("suite", String(200), primary_key=True),
    Column("task", String(200), primary_key=True),
    Column("target", Float),
    Column("method", String(200)),
    Column("rule", Text),
    Column("made_from", Text),  # JSON list of the keys of the cells it was computed from
    Column("created", Float),
)

RULE = (
    "best tuned baseline = best mean final validation metric over the tuning seeds at its "
    "tuned peak; target = its worst tuning seed's final validation metric there"
)
# the rule of a suite with target_seeds: the best baseline chosen as by RULE, then run again
# at its tuned peak on the target seeds
RULE_CONFIRMED = (
    "best tuned baseline = best mean final validation metric over the tuning seeds at its "
    "tuned peak; target = the worst final validation metric of its runs there on the tuning "
    "seeds and the target seeds"
)


@dataclass(frozen=True)
class Target:
    """A task's target and how it was made. ``stored``: read from the results store (False:
    computed at report time from the finished tuning runs, because the tuning phase is
    incomplete or the store predates the targets table)."""

    task: str
    target: float
    method: str
    rule: str
    made_from: tuple[str, ...]
    stored: bool = False


def _best(
    tune: list[dict[str, Any]],
) -> dict[str, tuple[str, float, Direction, list[dict[str, Any]]]]:
    """Each task's best tuned baseline by ``RULE``, from its ``tune`` cells: ``{task:
    (method, tuned peak, direction, its tuning runs at that peak)}``, for the tasks whose
    worst tuning run there has a finite final metric (the others have no target)."""
    peaks = choose_peaks(tune)
    at_peak: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for (task, method), peak in peaks.items():
        runs = (c for c in tune if (c["task"], c["method"], c["peak_lr"]) == (task, method, peak))
        at_peak[task][method] = sorted(runs, key=lambda c: c["key"])
    out = {}
    for task, groups in sorted(at_peak.items()):
        direction = Direction.of(next(iter(groups.values()))[0]["summary"]["mode"])

        def mean(method: str, d: Direction = direction, g: Mapping = groups) -> float:
            finals = [final_metric(c["summary"], d) for c in g[method]]
            return d.sign * sum(finals) / len(finals)

        # sorted labels first, max keeps the first of equals: the tie rule of RULE
        best = max(sorted(groups), key=mean)
        runs = groups[best]
        if math.isfinite(direction.worst_of([final_metric(c["summary"], direction) for c in runs])):
            out[task] = (best, peaks[(task, best)], direction, runs)
    return out


def best_baselines(cells: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, float]]:
    """``{task: (best tuned baseline, its tuned peak)}``, chosen by ``RULE`` from the
    finished ``tune`` cells among ``cells``: the baseline whose runs on the target seeds
    (``Suite.target_cells``) confirm the target. A task without a target has none."""
    tune = [dict(c) for c in cells if c["track"] == "tune"]
    return {task: (method, peak) for task, (method, peak, _, _) in _best(tune).items()}


def choose_targets(cells: Iterable[Mapping[str, Any]]) -> dict[str, Target]:
    """Each task's target from the finished cells among ``cells``: the best baseline and its
    peak chosen by ``RULE`` from the ``tune`` cells; the target is the worst final metric of
    its tuning runs there and of its ``target`` cells at that peak (``RULE_CONFIRMED``), or,
    with none, of its tuning runs alone (``RULE``). Every other track is ignored, so an
    evaluation run cannot move it."""
    cells = [dict(c) for c in cells]
    tune = [c for c in cells if c["track"] == "tune"]
    confirm = [c for c in cells if c["track"] == "target"]
    out = {}
    for task, (best, peak, direction, runs) in _best(tune).items():
        extra = sorted(
            (c for c in confirm if (c["task"], c["method"], c["peak_lr"]) == (task, best, peak)),
            key=lambda c: c["key"],
        )
        finals = [final_metric(c["summary"], direction) for c in runs + extra]
        target = float(direction.worst_of(finals))
        if not math.isfinite(target):  # a target-seed run without a finite metric
            continue
        keys = tuple(c["key"] for c in runs + extra)
        out[task] = Target(task, target, best, RULE_CONFIRMED if extra else RULE, keys)
    return out


def fix_targets(
    store: ResultsStore,
    suite: str,
    tune_keys: Mapping[str, Iterable[str]],
    target_keys: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Target]:
    """Store the target of every task whose tuning runs (``tune_keys[task]``, all the suite
    plans) are all done and which has no stored target yet. ``target_keys``: with the
    suite's ``target_seeds``, the keys of the target-seed runs it plans per task (its best
    baseline's, ``Suite.target_cells``), which must be done too; the rule is then
    ``RULE_CONFIRMED``, else ``RULE``.

    A stored target is kept (rerun, or a concurrent writer that stored it first) unless its
    runs are no longer all done (deleted: remade below), its rule is not the one this call
    uses (made before or without target seeds), or, with ``target_keys``, once the task's
    tuning is done, its runs are not the ones planned now (other target seeds, another best
    baseline). Returns the stored targets of the suite after this."""
    confirm = target_keys is not None
    rule = RULE_CONFIRMED if confirm else RULE
    planned_extra = {task: set(keys) for task, keys in (target_keys or {}).items()}
    cells = [c for c in store.done_cells(suite) if c["track"] in ("tune", "target")]
    done = {c["key"] for c in cells}
    tune = [c for c in cells if c["track"] == "tune"]
    # with target seeds: the tuning runs and the planned target-seed runs, nothing else
    mine = tune + [
        c for c in cells if c["track"] == "target" and c["key"] in planned_extra.get(c["task"], ())
    ]
    chosen = choose_targets(mine if confirm else tune)
    base = choose_targets(tune)  # made_from: the best baseline's tuning runs at its peak

    def tuned(task: str) -> bool:  # every tuning run of the task the suite plans is done
        keys = set(tune_keys.get(task, ()))
        return bool(keys) and keys <= done

    def planned(task: str) -> set[str]:
        return set(base[task].made_from) | planned_extra.get(task, set())

    stored = read_targets(store, suite)
    for task, row in list(stored.items()):
        made = set(row["made_from"])
        stale = not made <= done  # its runs were deleted: remade below
        stale = stale or row["rule"] != rule
        if confirm and not stale and tuned(task) and task in base:
            stale = made != planned(task)
        if stale:
            forget_targets(store, suite, task)
            del stored[task]
    for task in tune_keys:
        if task in stored or task not in chosen or not tuned(task):
            continue
        t = chosen[task]
        if confirm and (not planned_extra.get(task) or set(t.made_from) != planned(task)):
            continue  # its target-seed runs are not all done (or not planned)
        put_target(store, suite, task, t.target, t.method, rule, list(t.made_from))
    return stored_targets(store, suite)


def stored_targets(store: ResultsStore, suite: str) -> dict[str, Target]:
    return {
        task: Target(task, r["target"], r["method"], r["rule"], tuple(r["made_from"]), True)
        for task, r in read_targets(store, suite).items()
    }


def targets_for(
    store: ResultsStore, suite: str, cells: Iterable[Mapping[str, Any]]
) -> dict[str, Target]:
    """The targets a report uses: the stored one per task, else one computed by
    ``choose_targets`` from the finished tuning (and target-seed) runs (``stored`` False,
    and the report says so). A stored
    target whose runs are no longer all done (deleted, or failed since) is not used."""
    cells = list(cells)
    done = {c["key"] for c in cells}
    stored = {
        task: t for task, t in stored_targets(store, suite).items() if set(t.made_from) <= done
    }
    return {**choose_targets(cells), **stored}


# ---- the targets table ------------------------------------------------------------------


def _has_table(store: ResultsStore) -> bool:
    return "targets" in inspect(store.engine).get_table_names()


def put_target(
    store: ResultsStore,
    suite: str,
    task: str,
    target: float,
    method: str,
    rule: str,
    made_from: list[str],
) -> bool:
    """Store a task's target once: True if this call stored it, False if the suite already
    has one for the task (a rerun, or a concurrent writer first), which stays."""
    try:
        targets_table.create(store.engine, checkfirst=True)
    except DatabaseError:  # a concurrent writer created it between the check and ours
        if not _has_table(store):
            raise
    row = {
        "suite": suite,
        "task": task,
        "target": float(target),
        "method": method,
        "rule": rule,
        "made_from": json.dumps(sorted(made_from)),
        "created": time.time(),
    }
    try:
        with store.engine.begin() as con:
            con.execute(insert(targets_table).values(**row))
    except IntegrityError:
        return False
    return True


def read_targets(store: ResultsStore, suite: str) -> dict[str, dict[str, Any]]:
    """``{task: row}`` of the suite's stored targets (``made_from`` as a list of keys)."""
    if not _has_table(store):
        return {}
    query = select(targets_table).where(targets_table.c.suite == suite)
    with store.engine.connect() as con:
        rows = [dict(r._mapping) for r in con.execute(query)]
    for r in rows:
        r["made_from"] = json.loads(r["made_from"])
    return {r["task"]: r for r in rows}


def forget_targets(store: ResultsStore, suite: str, task: str | None = None) -> int:
    """Delete the suite's targets (or one task's): their tuning runs are being redone, or
    are gone. Returns how many rows went."""
    if not _has_table(store):
        return 0
    query = targets_table.delete().where(targets_table.c.suite == suite)
    if task is not None:
        query = query.where(targets_table.c.task == task)
    with store.engine.begin() as con:
        gone = con.execute(query)
    return int(gone.rowcount)
