"""One population run (a bench cell of method ``pbt`` or ``pb2``) on Ray Tune.

``run_population`` builds Ray's scheduler from the cell's ``population`` keys
(``autolr.population.config``), runs a ``Tuner`` with one function trainable per member
(``autolr.population.member``) on a local Ray (or the one this process is already connected
to, under a Ray executor), and summarises the run as a single cell:

- charged steps: the whole population's (``Accounts.charged``), steps trained again after
  a restore included; its wall time: every member's seconds, added up;
- the selected member: the best final validation metric; the cell's final validation and
  test metrics are its (the test split is evaluated for it alone, after the run);
- its curves: the selected member's lineage (the LR and evaluations its checkpoints carried
  through every exploit), with the population's charged steps and seconds on the x axis
  (``Accounts.charged_at``), so steps to target count the whole population;
- ``controller_stats``: the population size, the exploits and the members' finals;
  ``summary["population"]``: the scheduler's settings, the selected member, each member's
  final numbers, every exploit (a restore from another member's checkpoint) and every
  stretch a member trained (its trial, kept steps, LR and validation metric).

All members start from the cell's seed (same initial model and batches as every other
method's run on that seed) and differ in their LR, log-spaced across the LR range.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from autolr.loop.direction import Direction
from autolr.loop.session import Session
from autolr.population.config import (
    PB2Config,
    PBTConfig,
    PopulationConfig,
    check_against_budget,
    parse_population,
)
from autolr.population.lineage import Accounts
from autolr.population.member import (
    LR_KEYS,
    final_folder,
    load_member,
    member_session,
    train_member,
)

RAY_HINT = 'population methods (pbt, pb2) run on Ray Tune: pip install -e ".[ray]"'


def import_tune() -> Any:
    """``ray.tune``, or an ImportError that says how to install it."""
    try:
        from ray import tune
    except ImportError as err:
        raise ImportError(f"{RAY_HINT} ({err})") from None
    return tune


def make_scheduler(cfg: PopulationConfig, mode: str, lr_range: tuple[float, float]) -> Any:
    """Ray's PopulationBasedTraining (``pbt``) or PB2 (``pb2``) over the member's LR, the
    time being the member's kept steps (the ``step`` it reports)."""
    tune = import_tune()
    common = {
        "time_attr": "step",
        "metric": "score",
        "mode": mode,
        "perturbation_interval": cfg.perturbation_interval,
        "quantile_fraction": cfg.quantile_fraction,
        "synch": cfg.synch,
        "log_config": False,
    }
    lo, hi = lr_range
    if isinstance(cfg, PBTConfig):
        from ray.tune.schedulers import PopulationBasedTraining

        return PopulationBasedTraining(
            **common,
            burn_in_period=cfg.burn_in_period,
            hyperparam_mutations={"lr": tune.loguniform(lo, hi)},
            resample_probability=cfg.resample_probability,
            perturbation_factors=tuple(cfg.perturbation_factors),
        )
    assert isinstance(cfg, PB2Config)
    from ray.tune.schedulers.pb2 import PB2

    return PB2(**common, hyperparam_bounds={"log10_lr": [math.log10(lo), math.log10(hi)]})


def param_space(cfg: PopulationConfig, lr: float) -> dict[str, Any]:
    """One trial per initial LR (a grid search over them, one sample each)."""
    tune = import_tune()
    lrs = cfg.initial_lrs(lr)
    if cfg.name == "pb2":
        return {LR_KEYS["pb2"]: tune.grid_search([math.log10(x) for x in lrs])}
    return {LR_KEYS["pbt"]: tune.grid_search(lrs)}


@contextlib.contextmanager
def local_ray(cpus: int, folder: Path) -> Iterator[None]:
    """A local Ray of ``cpus`` CPUs for the block (no dashboard; its files in ``folder``),
    unless this process is already connected to one (a Ray executor's worker): then that."""
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        _temp_dir=str(folder),
    )
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's and numpy's global RNGs seeded for the block (Ray's explore draws from
    them in this process), and put back after it."""
    py, npy = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)


def run_population(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run a population cell's config (the run keys, and ``population``); returns the
    cell's summary and curves (see the module's docstring)."""
    run = {k: v for k, v in config.items() if k != "population"}
    if "controller" in run or "optimizer" in run:
        raise ValueError("config: a population cell has no controller or optimizer key")
    cfg = parse_population(config.get("population"), "config", root=("population",))
    probe = member_session(run, 1.0)  # for the task's info and the run's budget
    info, budget = probe.trainee.info, probe.ledger.budget
    check_against_budget(cfg, budget, "config", ("population",))
    lo, hi = cfg.lr_range(info.lr)
    lr_range = (max(lo, probe.min_lr), min(hi, probe.max_lr))
    tune = import_tune()
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TB files
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    with tempfile.TemporaryDirectory(prefix="autolr-pop-") as tmp:
        logs = Path(tmp) / "members"
        logs.mkdir()
        trainable = tune.with_resources(
            tune.with_parameters(
                train_member,
                run=run,
                log_dir=str(logs),
                perturbation_interval=cfg.perturbation_interval,
            ),
            {"cpu": 1},
        )
        start = time.perf_counter()
        with local_ray(cfg.cpus, Path(tmp) / "ray"), seeded(int(run.get("seed", 0))):
            tuner = tune.Tuner(
                trainable,
                param_space=param_space(cfg, info.lr),
                tune_config=tune.TuneConfig(
                    scheduler=make_scheduler(cfg, info.mode, lr_range),
                    num_samples=1,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name="population",
                    storage_path=str(Path(tmp) / "results"),
                    verbose=0,
                    failure_config=tune.FailureConfig(fail_fast=True),
                ),
            )
            grid = tuner.fit()
        ray_seconds = time.perf_counter() - start
        if grid.errors:
            raise RuntimeError(f"a population member failed: {grid.errors[0]}")
        accounts = Accounts.read(logs)
        members = accounts.members()
        selected = select(members, info.direction)
        session = member_session(run, members[selected]["lr"])
        load_member(session, final_folder(logs, selected))
    session.finish()  # the final validation (if not made at the end) and the test split
    return _summary(session, run, cfg, accounts, selected, ray_seconds), _curves(session, accounts)


def select(members: Mapping[str, Mapping[str, Any]], direction: Direction) -> str:
    """The member with the best final validation metric (ties: the first trial id), among
    those whose run did not end early if any did not."""
    alive = {t: m for t, m in members.items() if m["ended"] is None} or members
    finite = {t: m["val_metric"] for t, m in alive.items() if math.isfinite(m["val_metric"])}
    if not finite:
        return next(iter(alive))
    return next(t for t in finite if finite[t] == direction.best_of(list(finite.values())))


def _summary(
    session: Session,
    run: Mapping[str, Any],
    cfg: PopulationConfig,
    accounts: Accounts,
    selected: str,
    ray_seconds: float,
) -> dict[str, Any]:
    from autolr.running.config import validate
    from autolr.running.runner import summarize

    lineage_cfg = validate({**run, "controller": {"name": "fixed", "schedule": "constant"}})
    summary = summarize(session, lineage_cfg)
    members = accounts.members()
    to_target = summary["steps_to_target"]
    charged_to = time_to = None
    if to_target is not None:
        charged_to = round(float(accounts.charged_at([to_target])[0]))
        time_to = float(accounts.seconds_at([to_target])[0])
    summary.update(
        controller=cfg.name,
        steps_charged=accounts.charged,
        wall_time_s=accounts.seconds,
        charged_steps_to_target=charged_to,
        time_to_target_s=time_to,
        controller_stats={
            "population": cfg.population,
            "exploits": len(accounts.exploits),
            "member_finals": [m["val_metric"] for m in members.values()],
        },
        population={
            **cfg.model_dump(),
            "perturbation_factors": list(getattr(cfg, "perturbation_factors", ())) or None,
            "selected": selected,
            "lineage_steps": session.ledger.charged,
            "exploits": accounts.exploits,
            "members": members,
            "stretches": [
                {k: r[k] for k in ("trial", "time", "start", "end", "lr", "val_metric", "charged")}
                for r in accounts.stretches
            ],
            "ray_seconds": ray_seconds,
        },
    )
    return summary


def _curves(session: Session, accounts: Accounts) -> dict[str, np.ndarray]:
    h = session.history
    steps, evals = h.step_array("step"), h.eval_array("step")
    return {
        "lr": h.step_array("lr"),
        "train_loss": h.step_array("train_loss"),
        "step_charged": accounts.charged_at(steps),
        "eval_step": evals,
        "eval_charged": accounts.charged_at(evals),
        "eval_metric": h.eval_array("val_metric"),
        "eval_loss": h.eval_array("val_loss"),
        "eval_wall": accounts.seconds_at(evals),
    }
