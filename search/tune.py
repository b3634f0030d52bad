"""``autolr tune``: tune a schedule family's parameters for a task with an Optuna study.

Each trial is one ``fixed`` run of the family with sampled parameters; it reports the
validation metric at every evaluation, so the pruner can stop a bad trial early. The study
lives in an Optuna storage chosen by URL (a journal file by default; any RDB URL, e.g.
``postgresql://``, for many machines), so ``optuna-dashboard`` can watch it, and a re-run
continues it. A trial whose worker died is marked FAIL and re-queued with the same params
(``user_attrs["retry_of"]``): on RDB storages by Optuna's heartbeat and
``RetryFailedTrialCallback``; on a journal file by a liveness check of the worker's pid.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autolr.checks import CheckError, Choice, Int, Number, check_choice, check_int
from autolr.running.config import parse_model
from autolr.running.io import atomic_path, load_yaml_arg
from search.optuna_backends import PRUNERS, SAMPLERS, make_pruner, make_sampler
from search.storage import open_storage, recover_stale, storage_scheme

BUDGET = "$budget"


class SearchRange(BaseModel):
    """A searched parameter: ``{low, high, log?, int?}`` (``high`` is read first, so that
    ``low`` can be checked against it)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    high: Number()
    low: Number()
    log: bool = False
    integer: bool = Field(default=False, alias="int")

    @field_validator("low")
    @classmethod
    def _below_high(cls, low: float, info: ValidationInfo) -> float:
        high = info.data.get("high")
        if high is not None and not low < high:
            raise CheckError("low", low, f"< high ({high})")
        return low

    @model_validator(mode="after")
    def _log_needs_positive_low(self) -> SearchRange:
        if self.log and self.low <= 0:
            raise CheckError("low", self.low, "> 0 with log: true")
        return self


class SearchChoices(BaseModel):
    """A categorical parameter: ``{choices: [...]}``."""

    model_config = ConfigDict(extra="forbid")
    choices: list[Any] = Field(min_length=1)


class TuneConfig(BaseModel):
    """A tune config (see docs/search.md). ``params`` maps each schedule parameter to a
    search range ``{low, high, log?, int?}``, a list of ``choices``, or a fixed value;
    the string ``$budget`` stands for the run's budget (e.g. cosine's ``total_steps``).
    ``params`` keeps the mappings as given (validated) for the sampler."""

    model_config = ConfigDict(extra="forbid")
    task: dict[str, Any]
    family: str
    params: dict[str, Any]
    study: str = ""
    budget_steps: Int(1) | None = None
    interval: Int(1) = 50
    seed: Int(0) = 0
    eval_every: Int(1) | None = None
    trials: Int(1) = 20
    sampler: str = "tpe"
    pruner: Choice(*PRUNERS) = "median"
    storage: str | None = None
    out: str | None = None
    max_retry: Int(0) = 3

    @field_validator("task", mode="before")
    @classmethod
    def _task(cls, task: Any) -> Any:
        task = {"name": task} if isinstance(task, str) else task
        if not isinstance(task, Mapping) or not isinstance(task.get("name"), str):
            raise CheckError("task", task, "a task name or a mapping with a 'name'")
        return dict(task)

    @field_validator("family")
    @classmethod
    def _family(cls, family: str) -> str:
        from autolr.schedules.base import family_factory

        family_factory(family)  # raises on an unknown family, with a did-you-mean
        return family

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, params: Any) -> Any:
        if not isinstance(params, Mapping) or not params:
            raise CheckError("params", params, "a non-empty mapping")
        for name, space in params.items():
            if isinstance(space, Mapping):
                model = SearchChoices if "choices" in space else SearchRange
                parse_model(model, space, "", root=("params", name))
        return dict(params)

    @field_validator("study", "storage", "out", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return value if value is None else str(value)

    @field_validator("sampler")
    @classmethod
    def _sampler(cls, sampler: str) -> str:
        return check_choice("sampler", sampler, SAMPLERS)

    @model_validator(mode="after")
    def _defaults(self) -> TuneConfig:
        self.study = self.study or f"{self.task['name']}-{self.family}"
        self.out = self.out or str(Path("runs") / "tune" / self.study)
        return self


def load_tune_config(raw: Mapping[str, Any] | str | Path) -> TuneConfig:
    """Validate a tune config; a ValueError names the bad key path and value."""
    data = load_yaml_arg(str(raw)) if isinstance(raw, str | Path) else raw
    return parse_model(TuneConfig, data, "tune config")


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

    from autolr.loop.trainee import task_info
    from autolr.running.runner import build_session, load_config

    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    budget = cfg.budget_steps or task_info(cfg.task).budget_steps
    spec = schedule_spec(cfg, _sample(trial, cfg), budget)
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


def finished(study: Any) -> int:
    """Trials that count toward the target: complete or pruned."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def work(cfg: TuneConfig, url: str, target: int) -> None:
    """One worker: run trials until the study holds ``target`` finished trials."""
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg, url)
    recover_stale(study, cfg.max_retry)
    while finished(study) < target:
        study.optimize(lambda t: objective(t, cfg), n_trials=1, catch=(ValueError,))


def _work_entry(raw: dict[str, Any], url: str, target: int) -> None:
    from autolr.registry import load_plugins

    load_plugins()
    work(load_tune_config(raw), url, target)


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
) -> TuneResult:
    """Run (or continue) the study until it holds ``trials`` finished trials, with
    ``workers`` local processes; write the best schedule's run config to ``<out>/best.yaml``."""
    raw = load_yaml_arg(str(config)) if isinstance(config, str | Path) else dict(config)
    cfg = load_tune_config(raw)
    target = cfg.trials if trials is None else check_int("trials", trials, 1)
    workers = check_int("workers", workers, 1)
    url = storage or storage_url(cfg)
    if workers > 1 and storage_scheme(url) == "memory":
        raise ValueError(f"storage {url!r} lives in one process; --workers {workers} needs a file")
    study = open_study(cfg, url)
    recover_stale(study, cfg.max_retry)
    dead = 0
    if workers == 1:
        work(cfg, url, target)
    else:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_work_entry, args=(raw, url, target)) for _ in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        dead = sum(p.exitcode != 0 for p in procs)
    study = open_study(cfg, url)
    recover_stale(study, cfg.max_retry)
    return _result(cfg, study, dead)


def _result(cfg: TuneConfig, study: Any, dead: int) -> TuneResult:
    from optuna.trial import TrialState

    from autolr.loop.trainee import task_info

    counts = {s.name.lower(): 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] += 1
    best = study.best_trial  # raises ValueError when no trial completed
    budget = cfg.budget_steps or task_info(cfg.task).budget_steps
    run = run_config(cfg, schedule_spec(cfg, best.params, budget))
    path = Path(cfg.out or ".") / "best.yaml"
    with atomic_path(path) as tmp:
        header = (
            f"# autolr tune: study {cfg.study!r}, best trial {best.number}, value {best.value}\n"
        )
        tmp.write_text(header + yaml.safe_dump(run, sort_keys=False))
    return TuneResult(float(best.value), dict(best.params), run, counts, path, dead)
