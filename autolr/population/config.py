"""The keys of a population method (a contract: keep the names): ``pbt`` and ``pb2``.

::

    {name: pbt, population: 4, perturbation_interval: 100}
    {name: pb2, population: 4, perturbation_interval: 100}

Both:
    population:            members, each a Session on the task at its own LR (>= 2; default 4)
    perturbation_interval: kept steps between a member's reports; exploit and explore happen
                           there (Ray's ``perturbation_interval``, in steps; required)
    quantile_fraction:     the bottom fraction of the members copies the top fraction (Ray's;
                           in [0, 0.5], default 0.25)
    synch:                 members reach each perturbation step together before the
                           scheduler decides (Ray's ``synch``; default true here, Ray's is
                           false: in lockstep the decisions do not depend on which member
                           the machine happened to run first)
    lr_span:               the LR range is ``[lr / lr_span, lr * lr_span]`` around the task's
                           LR, as the tuning grid's ``span`` (default 8); the initial LRs are
                           log-spaced across it
    cpus:                  CPUs of the cell's local Ray: members that train at once, one
                           torch thread each (default 1; the others wait their turn)
``pbt`` only (Ray's ``PopulationBasedTraining``; ``hyperparam_mutations`` is
``{lr: tune.loguniform(*range)}``):
    burn_in_period:        kept steps before any member is perturbed (default 0)
    resample_probability:  the chance that explore draws a new LR from the range instead of
                           perturbing the copied one (default 0.25)
    perturbation_factors:  the factors a perturbation multiplies the LR by (default
                           [1.2, 0.8])
``pb2`` (Ray's ``PB2``) has ``hyperparam_bounds`` ``{log10_lr: [log10 of the range]}``: its
GP bandit models the LR in log space, where a range of orders of magnitude is even.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool

from autolr.checks import Int, Positive, Range
from autolr.running.config import ConfigError, Loc, key_path, parse_model

NAMES = ("pbt", "pb2")


class PopulationConfig(BaseModel):
    """The keys ``pbt`` and ``pb2`` share (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    population: Int(2) = 4
    perturbation_interval: Int(1)
    quantile_fraction: Range(0.0, 0.5) = 0.25
    synch: StrictBool = True
    lr_span: Range(1.0, math.inf, low_open=True, high_open=True) = 8.0
    cpus: Int(1) = 1

    def lr_range(self, lr: float) -> tuple[float, float]:
        """``[lr / lr_span, lr * lr_span]``."""
        return lr / self.lr_span, lr * self.lr_span

    def initial_lrs(self, lr: float) -> list[float]:
        """The members' initial LRs: ``lr * lr_span ** linspace(-1, 1, population)``."""
        n = self.population
        return [lr * self.lr_span ** (-1.0 + 2.0 * i / (n - 1)) for i in range(n)]


class PBTConfig(PopulationConfig):
    """Population-based training (Ray Tune's PopulationBasedTraining): the bottom members
    copy the top ones and perturb or resample their LR."""

    name: Literal["pbt"]
    burn_in_period: Int(0) = 0
    resample_probability: Range(0.0, 1.0) = 0.25
    perturbation_factors: tuple[Positive(), Positive()] = (1.2, 0.8)


class PB2Config(PopulationConfig):
    """Population-based bandits (Ray Tune's PB2): as pbt, but a GP bandit over log10 LR
    picks the copied members' new LR."""

    name: Literal["pb2"]


MODELS: dict[str, type[PopulationConfig]] = {"pbt": PBTConfig, "pb2": PB2Config}


def parse_population(spec: Any, what: str, root: Loc = ()) -> PopulationConfig:
    """A population spec's config; a ConfigError names the bad key path and value
    (``{what}: {root}.population must be an integer >= 2, got 1``)."""
    where = key_path(root)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{what}: {where or 'population'} must be a mapping of keys, got {spec!r}"
        )
    name = spec.get("name")
    if name not in MODELS:
        path = key_path((*root, "name"))
        raise ConfigError(f"{what}: {path} must be one of {list(NAMES)}, got {name!r}")
    return parse_model(MODELS[name], spec, what, root=root)


def check_against_budget(
    cfg: PopulationConfig, budget_steps: int, what: str, root: Loc = (), task: str = ""
) -> None:
    """Refuse a perturbation interval (or burn-in) with no perturbation step inside the
    budget: the members would be independent runs."""
    burn_in = getattr(cfg, "burn_in_period", 0)
    first = max(cfg.perturbation_interval, burn_in)
    if first >= budget_steps:
        key = "perturbation_interval" if first == cfg.perturbation_interval else "burn_in_period"
        of = f" of task {task!r}" if task else ""
        raise ConfigError(
            f"{what}: {key_path((*root, key))} {first} is not below budget_steps "
            f"{budget_steps}{of}: no member would ever be perturbed"
        )
