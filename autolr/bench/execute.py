"""Run cells on an executor (``autolr.executor``: in-process, a local process pool, ...),
recording into the store."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from autolr.bench.claims import CellQueue, Progress
from autolr.bench.store import ResultsStore
from autolr.bench.suite import Cell
from autolr.executor import Executor, make_executor
from autolr.provenance import provenance


def run_cell(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train one cell's run config; returns its summary and curves (runs in a worker). A
    config with the key ``population`` is a whole population run (``autolr.population``)."""
    if "population" in config:
        from autolr.population.run import run_population

        summary, curves = run_population(config)
        summary.setdefault("provenance", provenance())
        return summary, curves
    from autolr.running.config import validate
    from autolr.running.runner import build_session, summarize

    cfg = validate(config)
    session = build_session(cfg)
    session.run()
    summary = summarize(session, cfg)
    # the run's versions, commit, CPU and threads, read now, under the run's thread count
    summary.setdefault("provenance", provenance())
    h = session.history
    curves = {
        "lr": h.step_array("lr"),
        "train_loss": h.step_array("train_loss"),
        "step_charged": h.step_array("charged"),
        "eval_step": h.eval_array("step"),
        "eval_charged": h.eval_array("charged"),
        "eval_metric": h.eval_array("val_metric"),
        "eval_loss": h.eval_array("val_loss"),
        "eval_wall": h.eval_array("wall_time"),
    }
    return summary, curves


def _safe_run_cell(cell: Cell) -> tuple[bool, Any, Any]:
    return _safe_run(cell.config)


def _safe_run(config: dict[str, Any]) -> tuple[bool, Any, Any]:
    try:
        summary, curves = run_cell(config)
        return True, summary, curves
    except Exception:
        return False, traceback.format_exc(), None


def execute(
    store: ResultsStore,
    cells: Sequence[Cell],
    workers: int = 1,
    progress: Progress | None = None,
    executor: str | Executor | None = None,
) -> list[str]:
    """Run every cell the store does not hold as done; returns the keys that failed.

    ``executor`` is an Executor or its name (default: ``local`` for one worker, else
    ``pool``, with ``workers``). Each cell is claimed just before it starts and written done
    (with its curves) in one transaction when it ends, so killing the process loses only
    the cells in flight. Other processes may run the same cells into the same store: each
    cell runs once (see ``CellQueue``), and this returns when all of them are resolved.
    """
    runner = executor if isinstance(executor, Executor) else make_executor(executor, workers)
    work = CellQueue(store, cells, progress)
    for cell, outcome in runner.pull(_safe_run_cell, work):
        work.record(cell, *outcome)
    return work.failed
