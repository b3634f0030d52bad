"""``autolr tune``: tune a schedule family's parameters for a task with an Optuna study.

Each trial is one ``fixed`` run of the family with sampled parameters; it reports the
validation metric at every evaluation, so the pruner can stop a bad trial early. The study
lives in an Optuna storage chosen by URL (a journal file by default; any RDB URL, e.g.
``postgresql://``, for many machines), so ``optuna-dashboard`` can watch it, and a re-run
continues it. A trial whose worker died is marked FAIL and re-queued with the same params:
on RDB storages by Optuna's heartbeat and ``RetryHeartbeatStaleTrialCallback``; on a journal
file by a liveness check of the worker's pid (``user_attrs["retry_of"]``).

A trial that fails on its own (its run raised a ValueError, or ended without a finite
metric) counts toward ``trials`` and records its reason in ``user_attrs["error"]``; a
worker stops after ``max_failures`` such failures in a row (``TuneFailed``, with the first
one's reason), so a search space that cannot run does not fail trials for ever.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autolr.checks import check_int
from autolr.running.io import atomic_path, load_yaml_arg
from search.optuna_backends import make_pruner, make_sampler
from search.storage import open_storage, recover_stale, storage_scheme
from search.tune_config import (
    BUDGET,
    SearchChoices,
    SearchRange,
    TuneConfig,
    load_tune_config,
    run_budget,
)

__all__ = [
    "BUDGET",
    "SearchChoices",
    "SearchRange",
    "TuneConfig",
    "TuneFailed",
    "TuneResult",
    "load_tune_config",
    "open_storage",
    "tune",
]

ERROR = "error"  # the user attr that holds a failed trial's reason
FAILED_EXIT = 3  # a worker process's exit code when max_failures stopped it
Log = Callable[[str], None]


class TuneFailed(RuntimeError):
    """The study stopped on failed trials: ``max_failures`` in a row, or none completed."""


def storage_url(cfg: TuneConfig) -> str:
    """The storage URL: the config's, else a journal file ``<out>/study.journal``."""
    return cfg.storage or str(Path(cfg.out or ".") / "study.journal")


# ---- the objective ----------------------------------------------------------------------


def schedule_spec(cfg: TuneConfig, params: Mapping[str, Any], budget: int) -> dict[str, Any]:
    """The schedule spec of one trial: fixed values, then sampled ones; ``$budget`` filled."""
    spec: dict[str, Any] = {"name": cfg.family}
    for name, space in cfg.params.items():
        value = params.get(name, space)
        spec[name] = budget if value == BUDGET else value
    return spec


def run_config(cfg: TuneConfig, schedule: Mapping[str, Any]) -> dict[str, Any]:
    """The ``autolr run`` config for one schedule (what best.yaml holds)."""
    run: dict[str, Any] = {
        "task": cfg.task,
        "controller": {"name": "fixed", "schedule": dict(schedule)},
        "interval": cfg.interval,
        "seed": cfg.seed,
    }
    if cfg.budget_steps is not None:
        run["budget_steps"] = cfg.budget_steps
    if cfg.eval_every is not None:
        run["eval_every"] = cfg.eval_every
    return run


def _sample(trial: Any, cfg: TuneConfig) -> dict[str, Any]:
    out = {}
    for name, space in cfg.params.items():
        if isinstance(space, Mapping) and "choices" in space:
            out[name] = trial.suggest_categorical(name, list(space["choices"]))
        elif isinstance(space, Mapping):
            if space.get("int"):
                out[name] = trial.suggest_int(
                    name, int(space["low"]), int(space["high"]), log=bool(space.get("log"))
                )
            else:
                out[name] = trial.suggest_float(
                    name, float(space["low"]), float(space["high"]), log=bool(space.get("log"))
                )
    return out


def objective(trial: Any, cfg: TuneConfig) -> float:
    """Train one schedule; report the validation metric at each evaluation for pruning."""
    import optuna

    from autolr.running.runner import build_session, load_config

    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    spec = schedule_spec(cfg, _sample(trial, cfg), run_budget(cfg))
    session = build_session(load_config(run_config(cfg, spec)))
    seen = [0]

    def report(s: Any) -> None:
        evals = s.history.evals
        for i in range(seen[0], len(evals["step"])):
            step = int(evals["step"][i])
            if step > 0:
                trial.report(float(evals["val_metric"][i]), step)
        seen[0] = len(evals["step"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {s.step}")

    session.callbacks.append(report)
    state = session.run()
    value = state.val_metric
    if value is None or value != value:
        raise ValueError(f"trial {trial.number} ended without a finite metric: {value!r}")
    return float(value)


def guarded(trial: Any, cfg: TuneConfig) -> float:
    """``objective``, with a ValueError turned into a failed trial that records its reason.

    The trial is told FAIL through a nan value rather than by re-raising: Optuna logs a
    raised exception with its whole traceback, which for a space whose every run fails was
    a flood of identical tracebacks. The reason is kept in ``user_attrs["error"]``.
    """
    try:
        return objective(trial, cfg)
    except ValueError as err:
        trial.set_user_attr(ERROR, one_line(err))
        return math.nan


def one_line(err: BaseException) -> str:
    """``Type: message`` on one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# ---- the study and its workers ----------------------------------------------------------


def open_study(cfg: TuneConfig, url: str | None = None) -> Any:
    """Create or load the config's study (same name and storage: a re-run continues it)."""
    import optuna

    from autolr.loop.trainee import task_info

    return optuna.create_study(
        study_name=cfg.study,
        storage=open_storage(url or storage_url(cfg), cfg.max_retry),
        sampler=make_sampler(cfg.sampler, cfg.seed, min(10, max(2, cfg.trials // 3))),
        pruner=make_pruner(cfg.pruner),
        direction=task_info(cfg.task).direction.verb,
        load_if_exists=True,
    )


def own_failure(trial: Any) -> bool:
    """A trial that failed on its own run (not one failed because its worker died, which is
    re-queued and does not count)."""
    from optuna.trial import TrialState

    return trial.state == TrialState.FAIL and ERROR in trial.user_attrs


def finished(study: Any) -> int:
    """Trials that count toward the target: complete, pruned, or failed on their own."""
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False, states=done)
    return sum(t.state != TrialState.FAIL or own_failure(t) for t in trials)


def describe_failure(trial: Any) -> str:
    """``trial N with {params}: reason``."""
    reason = trial.user_attrs.get(ERROR, "its worker died")
    return f"trial {trial.number} with {trial.params}: {reason}"


def progress_line(study: Any, trial: Any, target: int) -> str:
    """One line per finished trial: count toward the target, outcome, best so far."""
    from optuna.trial import TrialState

    head = f"trial {finished(study)}/{target} (#{trial.number})"
    if trial.state == TrialState.FAIL:
        return f"{head} failed: {trial.user_attrs.get(ERROR, 'no reason recorded')}"
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = f"best {study.best_value:.6g}" if complete else "best -"
    if trial.state == TrialState.PRUNED:
        last = max(trial.intermediate_values, default=None)
        return f"{head} pruned at step {last}, {best}"
    return f"{head} value {trial.value:.6g}, {best}"


class _QuietFailedTrials:
    """A logging filter for Optuna's "Trial N failed ..." warnings: ``guarded`` records the
    reason and the progress line (or TuneFailed) reports it, in one line."""

    def filter(self, record: Any) -> bool:
        text = record.getMessage()
        return not (text.startswith("Trial ") and " failed " in text)


_QUIET = _QuietFailedTrials()


def work(cfg: TuneConfig, url: str, target: int, log: Log | None = None) -> None:
    """One worker: run trials until the study holds ``target`` finished trials. Raises
    TuneFailed after ``cfg.max_failures`` of its trials failed in a row."""
    import logging

    import optuna
    import torch
    from optuna.trial import TrialState

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logger = logging.getLogger("optuna.study._optimize")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    study = open_study(cfg, url)
    recover_stale(study, cfg.max_retry)
    streak: list[Any] = []
    ran: list[Any] = []  # Optuna hands each finished trial to the callback

    def objective_of(trial: Any) -> float:
        return guarded(trial, cfg)

    while finished(study) < target:
        study.optimize(objective_of, n_trials=1, callbacks=[lambda _s, t: ran.append(t)])
        trial = ran.pop()
        if log is not None:
            log(progress_line(study, trial, target))
        streak = [*streak, trial] if trial.state == TrialState.FAIL else []
        if len(streak) >= cfg.max_failures:
            raise TuneFailed(
                f"{len(streak)} trials failed in a row (max_failures: {cfg.max_failures}); "
                f"the first, {describe_failure(streak[0])}"
            )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _work_entry(raw: dict[str, Any], url: str, target: int, quiet: bool) -> None:
    from autolr.registry import load_plugins

    load_plugins()
    try:
        work(load_tune_config(raw), url, target, None if quiet else _stderr)
    except TuneFailed:
        sys.exit(FAILED_EXIT)  # the parent reads the reason from the study


@dataclass
class TuneResult:
    """The best trial's value and params, its ``autolr run`` config, and trial counts."""

    value: float
    params: dict[str, Any]
    run_config: dict[str, Any]
    counts: dict[str, int]
    best_path: Path
    dead_workers: int


def tune(
    config: Mapping[str, Any] | str | Path,
    trials: int | None = None,
    storage: str | None = None,
    workers: int = 1,
    log: Log | None = None,
) -> TuneResult:
    """Run (or continue) the study until it holds ``trials`` finished trials, with
    ``workers`` local processes; write the best schedule's run config to ``<out>/best.yaml``.
    ``log`` gets one progress line per finished trial (workers print theirs to stderr).
    Raises TuneFailed when a worker stopped on ``max_failures`` or no trial completed."""
    raw = load_yaml_arg(str(config)) if isinstance(config, str | Path) else dict(config)
    cfg = load_tune_config(raw)
    target = cfg.trials if trials is None else check_int("trials", trials, 1)
    workers = check_int("workers", workers, 1)
    url = storage or storage_url(cfg)
    if workers > 1 and storage_scheme(url) == "memory":
        raise ValueError(f"storage {url!r} lives in one process; --workers {workers} needs a file")
    study = open_study(cfg, url)
    recover_stale(study, cfg.max_retry)
    first_new = len(study.get_trials(deepcopy=False))
    dead = 0
    if workers == 1:
        work(cfg, url, target, log)
    else:
        ctx = multiprocessing.get_context("spawn")
        args = (raw, url, target, log is None)
        procs = [ctx.Process(target=_work_entry, args=args) for _ in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        dead = sum(p.exitcode not in (0, FAILED_EXIT) for p in procs)
        if any(p.exitcode == FAILED_EXIT for p in procs):
            study = open_study(cfg, url)
            raise TuneFailed(
                f"a worker stopped after {cfg.max_failures} failed trials in a row "
                f"(max_failures); {_first_failure(study, first_new)}"
            )
    study = open_study(cfg, url)
    recover_stale(study, cfg.max_retry)
    return _result(cfg, study, dead, first_new)


def _first_failure(study: Any, first_new: int) -> str:
    """The first trial of this run that failed on its own, described; or ''."""
    failed = [t for t in study.get_trials(deepcopy=False)[first_new:] if own_failure(t)]
    return f"the first failure, {describe_failure(failed[0])}" if failed else ""


def _result(cfg: TuneConfig, study: Any, dead: int, first_new: int = 0) -> TuneResult:
    from optuna.trial import TrialState

    counts = {s.name.lower(): 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] += 1
    if not counts["complete"]:
        shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        first = _first_failure(study, first_new) or _first_failure(study, 0)
        raise TuneFailed(f"no trial completed ({shown}){'; ' + first if first else ''}")
    best = study.best_trial
    run = run_config(cfg, schedule_spec(cfg, best.params, run_budget(cfg)))
    path = Path(cfg.out or ".") / "best.yaml"
    with atomic_path(path) as tmp:
        header = (
            f"# autolr tune: study {cfg.study!r}, best trial {best.number}, value {best.value}\n"
        )
        tmp.write_text(header + yaml.safe_dump(run, sort_keys=False))
    return TuneResult(float(best.value), dict(best.params), run, counts, path, dead)
