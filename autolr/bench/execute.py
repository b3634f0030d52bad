"""Run cells: in-process or in a pool of local worker processes, recording into the store."""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import numpy as np

from autolr.bench.claims import CellQueue, Progress
from autolr.bench.orphans import die_with_parent
from autolr.bench.store import ResultsStore
from autolr.bench.suite import Cell


def run_cell(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train one cell's run config; returns its summary and curves (runs in a worker)."""
    from autolr.running.config import validate
    from autolr.running.runner import build_session, summarize

    cfg = validate(config)
    session = build_session(cfg)
    session.run()
    summary = summarize(session, cfg)
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
) -> list[str]:
    """Run every cell the store does not hold as done; returns the keys that failed.

    Each cell is claimed just before it starts and written done (with its curves) in one
    transaction when it ends, so killing the process loses only the cells in flight. Other
    processes may run the same cells into the same store: each cell runs once (see
    ``CellQueue``), and this returns when all of them are resolved.
    """
    work = CellQueue(store, cells, progress)
    if workers <= 1:
        while (cell := work.take()) is not None:
            work.record(cell, *_safe_run(cell.config))
        return work.failed
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=die_with_parent
    ) as pool:
        running: dict[Future[Any], Cell] = {}
        while True:
            while len(running) < workers and (cell := work.take(block=not running)):
                running[pool.submit(_safe_run, cell.config)] = cell
            if not running:
                break
            timeout = work.poll_s if work.waiting else None  # look at others' cells again
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for fut in done:
                work.record(running.pop(fut), *fut.result())
    return work.failed
