"""Targets, set before evaluation: each task's target comes from the tuning runs alone.

As AlgoPerf sets its targets from reference runs, a suite's target per task is fixed once
its tuning phase is over, stored in the results store (the ``targets`` table defined here,
with the rule and the keys of the runs it was made from), and reused by every later report
and rerun. The
evaluation seeds never choose it: choosing the best baseline by its evaluation-seed mean and
taking its worst evaluation seed (the old rule) made the target a winner's-curse quantity of
the very runs it then judged.

The rule (``RULE``): among the tuned baselines, each at its tuned peak (``choose_peaks``:
the best mean final validation metric over the tuning seeds), the best baseline is the one
with the best such mean (a tie goes to the first label in sorted order); the target is the
final validation metric of its worst tuning seed at that peak, a level each of its tuning
runs reached by the end (with one tuning seed: that run's final metric). A task whose best
tuning runs all ended without a finite metric has no target.
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


def choose_targets(cells: Iterable[Mapping[str, Any]]) -> dict[str, Target]:
    """Each task's target by ``RULE``, from the finished ``tune`` cells among ``cells``
    (every other track is ignored, so an evaluation run cannot move it)."""
    tune = [dict(c) for c in cells if c["track"] == "tune"]
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
        finals = [final_metric(c["summary"], direction) for c in groups[best]]
        target = float(direction.worst_of(finals))
        if not math.isfinite(target):
            continue
        keys = tuple(c["key"] for c in groups[best])
        out[task] = Target(task, target, best, RULE, keys)
    return out


def fix_targets(
    store: ResultsStore, suite: str, tune_keys: Mapping[str, Iterable[str]]
) -> dict[str, Target]:
    """Store the target of every task whose tuning runs (``tune_keys[task]``, all the suite
    plans) are all done and which has no stored target yet; a stored target is never
    replaced (rerun, or a concurrent writer that stored it first). Returns the stored
    targets of the suite after this."""
    cells = [c for c in store.done_cells(suite) if c["track"] == "tune"]
    done = {c["key"] for c in cells}
    stored = read_targets(store, suite)
    for task, row in list(stored.items()):
        if not set(row["made_from"]) <= done:  # its runs were deleted: remade below
            forget_targets(store, suite, task)
            del stored[task]
    chosen = choose_targets(cells)
    for task, keys in tune_keys.items():
        keys = set(keys)
        if task in stored or task not in chosen or not keys or not keys <= done:
            continue
        t = chosen[task]
        put_target(store, suite, task, t.target, t.method, t.rule, list(t.made_from))
    return stored_targets(store, suite)


def stored_targets(store: ResultsStore, suite: str) -> dict[str, Target]:
    return {
        task: Target(task, r["target"], r["method"], r["rule"], tuple(r["made_from"]), True)
        for task, r in read_targets(store, suite).items()
    }


def targets_for(
    store: ResultsStore, suite: str, cells: Iterable[Mapping[str, Any]]
) -> dict[str, Target]:
    """The targets a report uses: the stored one per task, else one computed by the same
    rule from the finished tuning runs (``stored`` False, and the report says so). A stored
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
