"""Run cells on an executor (``autolr.executor``: in-process, a local process pool, ...),
recording into the store."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autolr.bench.cells import Cell
from autolr.bench.claims import CellQueue, Progress
from autolr.bench.store import ResultsStore
from autolr.executor import Executor, make_executor
from autolr.provenance import provenance


def run_cell(
    config: dict[str, Any], tensorboard: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train one cell's run config; returns its summary and curves (runs in a worker).
    With ``tensorboard``, the run's scalars go there too (``TensorBoardLog``). A config with
    the key ``population`` is a whole population run (``autolr.population``; no TensorBoard
    scalars)."""
    if "population" in config:
        from autolr.population.run import run_population

        summary, curves = run_population(config)
        summary.setdefault("provenance", provenance())
        return summary, curves
    from autolr.running.config import validate
    from autolr.running.runner import build_session, summarize

    cfg = validate(config)
    session = build_session(cfg)
    if tensorboard is None:
        session.run()
    else:
        from autolr.integrations.tensorboard import TensorBoardLog

        log = TensorBoardLog(tensorboard)
        session.callbacks.append(log)
        try:
            session.run()
            log.finish(session)
        finally:
            log.close()
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


def cell_logdir(root: str | Path, cell: Cell) -> Path:
    """A cell's TensorBoard folder: ``root/<task>/<method>/seed<k>``; a tuning run's is
    ``root/<task>/<method>/tune-lr<peak>/seed<k>`` and a target-confirmation run's
    ``root/<task>/<method>/target/seed<k>``, as they share their method and seeds."""
    where = Path(root) / cell.task / cell.method
    if cell.track == "tune":
        where /= f"tune-lr{cell.peak_lr:g}"
    elif cell.track == "target":
        where /= "target"
    return where / f"seed{cell.seed}"


def _safe_run_cell(cell: Cell, tensorboard: str | None = None) -> tuple[bool, Any, Any]:
    logdir = None if tensorboard is None else cell_logdir(tensorboard, cell)
    return _safe_run(cell.config, logdir)


def _safe_run(config: dict[str, Any], tensorboard: Path | None = None) -> tuple[bool, Any, Any]:
    try:
        summary, curves = run_cell(config, tensorboard)
        return True, summary, curves
    except Exception:
        return False, traceback.format_exc(), None


def execute(
    store: ResultsStore,
    cells: Sequence[Cell],
    workers: int = 1,
    progress: Progress | None = None,
    executor: str | Executor | None = None,
    tensorboard: str | Path | None = None,
) -> list[str]:
    """Run every cell the store does not hold as done; returns the keys that failed.

    ``executor`` is an Executor or its name (default: ``local`` for one worker, else
    ``pool``), made here with ``workers`` and closed at the end. Each cell is claimed just
    before it starts and written done (with its curves) in one transaction when it ends, so
    killing the process loses only the cells in flight. Other processes may run the same
    cells into the same store: each cell runs once (see ``CellQueue``), and this returns when
    all of them are resolved. With ``tensorboard``, each cell that runs writes its scalars under
    ``cell_logdir``.
    """
    if not isinstance(executor, Executor):
        with make_executor(executor, workers) as runner:
            return execute(
                store, cells, progress=progress, executor=runner, tensorboard=tensorboard
            )
    work = CellQueue(store, cells, progress)
    run = _safe_run_cell
    if tensorboard is not None:  # a partial of a module function: it pickles to a worker
        run = functools.partial(_safe_run_cell, tensorboard=str(tensorboard))
    for cell, outcome in executor.pull(run, work):
        work.record(cell, *outcome)
    return work.failed
