"""The report's warning when one task's table mixes runs of different provenance.

Runs agree bit for bit only on the same versions, commit, CPU and thread count
(docs/benchmarks.md, *Reproducibility*); a table whose runs differ in those compares
numbers that did not come from one setup, so the report says what differs, and where.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from autolr.bench.analysis import planned
from autolr.bench.store import ResultsStore
from autolr.provenance import Run, differences


def mixed_provenance(
    store: ResultsStore, suite: str, plan: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """``{task: lines}`` for each task whose done runs (tuning grid included; with ``plan``,
    the planned ones as labelled there: ``analysis.planned``) differ in a compared
    provenance key; each line names the key, its values and the methods (and, when a
    method is split, its runs) with each value."""
    by_task: dict[str, list[Run]] = {}
    for cell in planned(store.done_cells(suite), plan):
        by_task.setdefault(cell["task"], []).append(_run(cell))
    out = {}
    for task, runs in by_task.items():
        lines = differences(runs)
        if lines:
            out[task] = lines
    return out


def _run(cell: dict[str, Any]) -> Run:
    if cell["track"] == "tune":  # one seed, many peaks: the grid point names the run
        group, run_id = f"{cell['method']} tuning", f"peak {cell['peak_lr']:.3g}"
    elif cell["track"] == "target":  # the best baseline's target-seed runs
        group, run_id = f"{cell['method']} target seeds", f"seed {cell['seed']}"
    else:
        group, run_id = cell["method"], f"seed {cell['seed']}"
    prov = cell.get("provenance") or cell["summary"].get("provenance")
    return group, run_id, prov


def note(lines: list[str]) -> str:
    """The report.md paragraph for one task."""
    items = "\n".join(f"> - {line}" for line in lines)
    return (
        "> **Warning: mixed provenance.** The runs in this table do not all come from the "
        "same versions, commit, CPU or thread count, so their numbers are not comparable "
        "bit for bit (docs/benchmarks.md, *Reproducibility*):\n>\n" + items + "\n"
    )


def warn(mixed: dict[str, list[str]]) -> None:
    """One warning line per differing key and task, on stderr (stdout carries the tables,
    which a pipe may be reading)."""
    for task, lines in mixed.items():
        for line in lines:
            print(f"warning: {task}: runs of mixed provenance, {line}", file=sys.stderr)
