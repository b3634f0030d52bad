"""``autolr bench``: tune the baselines, run every method, replay, report."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autolr.bench.cells import Cell
from autolr.bench.execute import execute
from autolr.bench.report import terminal_console, write_report
from autolr.bench.store import ResultsStore, error_reason
from autolr.bench.store_location import store_url
from autolr.bench.suite import Suite
from autolr.bench.targets import best_baselines, fix_targets, forget_targets
from autolr.bench.tuning import choose_peaks
from autolr.executor import Executor, make_executor
from autolr.running.io import load_yaml_arg


def load_suite(suite: str | Path | Mapping[str, Any] | Suite) -> Suite:
    if isinstance(suite, Suite):
        return suite
    raw = load_yaml_arg(str(suite)) if isinstance(suite, str | Path) else suite
    return Suite(raw)


@dataclass(frozen=True)
class BenchOutcome:
    """What ``run_suite`` did: the report it wrote and the cells that failed this time."""

    report: Path
    failed: list[Cell]


def bench(suite: str | Path | Mapping[str, Any] | Suite, **options: Any) -> Path:
    """Run a suite into a results store and write the report; returns the report's path.

    Takes ``run_suite``'s options; ``run_suite`` also says which cells failed (the report
    lists them).
    """
    return run_suite(suite, **options).report


def run_suite(
    suite: str | Path | Mapping[str, Any] | Suite,
    *,
    out: str | Path = "bench-out",
    store: str | None = None,
    workers: int = 1,
    progress: bool = False,
    redo: Sequence[str] = (),
    executor: str | Executor | None = None,
    plain: bool | None = None,
    tensorboard: str | Path | None = None,
) -> BenchOutcome:
    """Run a suite into a results store and write the report.

    Phases: (1) tuning runs of the baselines on the tuning seeds; the self-tuning
    controllers, the optimizer peers and the untuned baselines (``tuned: false``, at the
    task's default LR) on the evaluation seeds; with ``target_seeds``, (1b) target
    confirmation: each task's best tuned baseline at its tuned peak on the target seeds;
    then the targets are fixed (``autolr.bench.targets``); (2) the tuned baselines on the
    evaluation seeds at their tuned peak; (3) open-loop replays of the adaptive controllers'
    LR traces (track "self" only: peers' schedules are fixed or set by their range test;
    a population's trace is its selected member's lineage's).
    A rerun skips finished cells (and runs failed ones again); ``redo`` names methods whose
    stored cells (and replays) are deleted first, to be run again (after a change to a
    controller, say); a tuned baseline's cells include its target-seed runs (they carry its
    label), and its redo deletes the suite's targets too, which are remade.
    ``executor`` is where cells run: an Executor (the caller closes it) or its name
    (``autolr.executor``; default ``local`` for one worker, else ``pool``), made here with
    ``workers`` and closed at the end. ``plain``: the terminal tables as markdown (None: when
    stdout is not a terminal). ``tensorboard``: each cell that runs writes its scalars as
    TensorBoard events under that folder (``autolr.bench.execute.cell_logdir``).
    """
    s = load_suite(suite)  # checks the whole suite before anything is written
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if tensorboard is not None:  # here, rather than as every cell's failure
        from autolr.integrations.tensorboard import require_tensorboard

        require_tensorboard()
    labels = [m.label for m in s.methods]
    unknown = [m for m in redo if m not in labels]
    if unknown:
        raise ValueError(f"--redo {unknown[0]!r} is not a method of suite {s.name!r}: {labels}")
    out_dir = Path(out)
    if isinstance(executor, Executor):
        return _run_phases(s, out_dir, store, executor, progress, redo, plain, tensorboard)
    with make_executor(executor, workers) as runner:
        return _run_phases(s, out_dir, store, runner, progress, redo, plain, tensorboard)


def _run_phases(
    s: Suite,
    out_dir: Path,
    store: str | None,
    runner: Executor,
    progress: bool,
    redo: Sequence[str],
    plain: bool | None,
    tensorboard: str | Path | None = None,
) -> BenchOutcome:
    results = ResultsStore(store_url(store, out_dir))
    failed: list[Cell] = []
    try:
        with results.guard():
            if redo:
                gone = results.forget(s.name, redo)
                if progress:
                    print(f"--redo {', '.join(redo)}: {gone} stored runs deleted, to run again")
                if any(m.label in redo for m in s.baselines if m.tuned):
                    # their tuning runs are redone: the targets they made are remade after them
                    forget_targets(results, s.name)
            with _Progress(progress, results) as note:
                phases = [("tune + self-tuning", lambda: first_cells(s))]
                if s.cfg.target_seeds:
                    phases.append(("target confirmation", lambda: target_cells(s, results)))
                fix_after = phases[-1][0]  # tuning (and confirmation) is over: fix the targets
                phases.append(("tuned baselines", lambda: eval_cells(s, results)))
                if s.cfg.replay:
                    phases.append(("open-loop replays", lambda: replay_cells(s, results, plan)))
                # the runs the suite plans, by key, as it labels them (what suite_plan
                # computes, gathered as the phases make them: no curve is read twice)
                plan: dict[str, str] = {}
                for name, make in phases:
                    cells = make()
                    plan.update((c.key, c.method) for c in cells)
                    note.phase(name, len(cells))
                    keys = set(
                        execute(
                            results, cells, progress=note, executor=runner, tensorboard=tensorboard
                        )
                    )
                    failed += [c for c in cells if c.key in keys]
                    if name == fix_after:  # before evaluation
                        fix_targets(results, s.name, tune_keys(s), target_keys(s, results))
            out_dir.mkdir(parents=True, exist_ok=True)
            report = write_report(results, s.name, out_dir, console=True, plain=plain, plan=plan)
            return BenchOutcome(report, failed)
    finally:
        results.close()


def tune_keys(s: Suite) -> dict[str, list[str]]:
    """The keys of every tuning run the suite plans, per task."""
    keys: dict[str, list[str]] = defaultdict(list)
    for c in s.tune_cells():
        keys[c.task].append(c.key)
    return dict(keys)


def first_cells(s: Suite) -> list[Cell]:
    """The first phase: the tuning runs, the controllers, the peers, the populations, the
    untuned baselines."""
    return (
        s.tune_cells() + s.self_cells() + s.peer_cells() + s.population_cells() + s.default_cells()
    )


def eval_cells(s: Suite, results: ResultsStore) -> list[Cell]:
    """The tuned baselines on the evaluation seeds, at the peaks their tuning runs chose."""
    return s.eval_cells(choose_peaks(results.done_cells(s.name)))


def suite_plan(s: Suite, results: ResultsStore) -> dict[str, str]:
    """Every run the suite plans now, given what the store holds: ``{cell key: method
    label}``, as ``run_suite`` gathers it from its phases' cells. What ``autolr bench``
    reports (``analysis.planned``): a method's stored runs
    under earlier settings (same label, another config) are neither replayed nor reported,
    and a stored run is labelled as the suite labels it now."""
    cells = first_cells(s) + eval_cells(s, results)
    if s.cfg.target_seeds:
        cells += target_cells(s, results)
    plan = {c.key: c.method for c in cells}
    if s.cfg.replay:
        plan.update((c.key, c.method) for c in replay_cells(s, results, plan))
    return plan


def target_cells(s: Suite, results: ResultsStore) -> list[Cell]:
    """The target-seed runs of each task whose planned tuning runs are all done: its best
    tuned baseline (``best_baselines``, chosen from the tuning runs as the target rule
    chooses it) at its tuned peak on each of the suite's ``target_seeds``."""
    cells = results.done_cells(s.name)
    done = {c["key"] for c in cells}
    best = best_baselines(cells)
    ready = {task for task, keys in tune_keys(s).items() if set(keys) <= done}
    return s.target_cells({task: b for task, b in best.items() if task in ready})


def target_keys(s: Suite, results: ResultsStore) -> dict[str, list[str]] | None:
    """The keys of the target-seed runs the suite plans now, per task (``target_cells``);
    None for a suite without ``target_seeds`` (its targets come from the tuning runs alone)."""
    if not s.cfg.target_seeds:
        return None
    keys: dict[str, list[str]] = defaultdict(list)
    for c in target_cells(s, results):
        keys[c.task].append(c.key)
    return dict(keys)


def replay_cells(
    s: Suite, results: ResultsStore, planned: Mapping[str, str] | None = None
) -> list[Cell]:
    """Replays of the suite's finished controller runs (with ``planned``, a key -> label
    map: of the runs in it, as labelled there; a stored run of a method's earlier settings
    is not replayed)."""
    cells = []
    for c in results.done_cells(s.name):
        if planned is not None:
            if c["key"] not in planned:
                continue
            c = {**c, "method": planned[c["key"]]}  # as the suite labels it now
        # the self-tuning controllers and populations (the selected member's lineage): an
        # optimizer peer's cell is of track "peer"
        controller = c["config"].get("controller") or {}
        if c["track"] == "self" and controller.get("name") != "fixed":
            cell = s.replay_cell(c, results.curves(c["key"])["lr"])
            if cell is not None:
                cells.append(cell)
    return cells


class _Progress:
    """A rich progress bar per phase, and a line per finished cell; a failed cell's line
    (with its reason, from the store) is printed even when quiet, on stderr."""

    def __init__(self, enabled: bool, store: ResultsStore) -> None:
        self.enabled = enabled
        self.store = store
        self.counts: dict[str, int] = defaultdict(int)
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress(
                "[bold]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=False,
                console=terminal_console(),
            )
            self.bar.__enter__()
        return self

    def phase(self, name: str, total: int) -> None:
        if self.enabled:
            self._task = self.bar.add_task(name, total=total)

    def __call__(self, cell: Cell, status: str) -> None:
        self.counts[status] += 1
        if self.enabled:
            self.bar.advance(self._task)
        if status in ("skipped", "elsewhere"):  # lines for this process's own runs only
            return
        if not (self.enabled or status == "failed"):
            return
        peak = f" peak {cell.peak_lr:.3g}" if cell.peak_lr else ""
        line = f"[{status}] {cell.track:6s} {cell.task} / {cell.method} seed {cell.seed}{peak}"
        if status == "failed":
            line += f": {error_reason(self.store.error(cell.key) or '')}"
        if not self.enabled:
            print(line, file=sys.stderr)
            return
        self.bar.console.print(
            line,
            style="red" if status == "failed" else None,
            highlight=False,
            markup=False,
            soft_wrap=True,  # one line per cell, however narrow the console
        )

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(None, None, None)
            c = self.counts
            peers = f", {c['elsewhere']} run by other processes" if c["elsewhere"] else ""
            self.bar.console.print(
                f"cells: {c['done']} run, {c['skipped']} already in the store{peers}, "
                f"{c['failed']} failed"
            )
