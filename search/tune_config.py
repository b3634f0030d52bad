"""The ``autolr tune`` config (``TuneConfig``), and the static check of its search space.

Every check here runs before the first trial: a search space that names a parameter the
schedule family does not take, lacks one it needs, or whose representative values the
family rejects would otherwise fail every trial at run time. Parameter names are checked
against the family's signature (with a did-you-mean), then the family's schedule is built
once at representative values: each range's ``low``, each categorical's first choice, the
fixed values, ``$budget`` filled in. Other values of a range may still fail at run time (a
``min_lr`` above a sampled ``lr``); such a trial fails, counts toward ``trials``, and
``max_failures`` in a row stop the study.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autolr.checks import CheckError, Choice, Int, Number, check_choice
from autolr.registry import did_you_mean
from autolr.running.config import parse_model
from autolr.running.io import load_yaml_arg
from search.optuna_backends import PRUNERS, SAMPLERS

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
    max_failures: Int(1) = 5

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
    def _space_fits_family(self) -> TuneConfig:
        check_space(self.family, self.params, lambda: run_budget(self))
        return self

    @model_validator(mode="after")
    def _defaults(self) -> TuneConfig:
        self.study = self.study or f"{self.task['name']}-{self.family}"
        self.out = self.out or str(Path("runs") / "tune" / self.study)
        return self


def load_tune_config(raw: Mapping[str, Any] | str | Path) -> TuneConfig:
    """Validate a tune config; a ValueError names the bad key path and value."""
    data = load_yaml_arg(str(raw)) if isinstance(raw, str | Path) else raw
    return parse_model(TuneConfig, data, "tune config")


def run_budget(cfg: TuneConfig) -> int:
    """The steps of one trial: the config's ``budget_steps``, else the task's default."""
    from autolr.loop.trainee import task_info

    return cfg.budget_steps or task_info(cfg.task).budget_steps


# ---- the search space against the family ------------------------------------------------


def _is_searched(space: Any) -> bool:
    return isinstance(space, Mapping)


def representative(space: Any) -> Any:
    """The value a parameter takes in the static check: a range's ``low`` (an int for an
    ``int`` range), a categorical's first choice, or the fixed value itself."""
    if not _is_searched(space):
        return space
    if "choices" in space:
        return next(iter(space["choices"]))
    return int(space["low"]) if space.get("int") else float(space["low"])


def label(space: Any) -> str:
    """Which value ``representative`` took, for an error message."""
    if not _is_searched(space):
        return "value"
    return "choices[0]" if "choices" in space else "low"


def check_space(family: str, params: Mapping[str, Any], budget: Callable[[], int]) -> None:
    """Raise a ValueError naming ``params.<name>`` if any trial of this search space would
    fail to build the family's schedule (see the module docstring). ``budget`` gives the
    value of ``$budget``; it is called only when a parameter uses it."""
    from autolr.schedules.base import build, family_factory

    accepted = inspect.signature(family_factory(family)).parameters
    for name in params:
        if name not in accepted:
            raise ValueError(
                f"params.{name}: unknown parameter {name!r} for schedule {family!r}"
                f"{did_you_mean(str(name), list(accepted))}; accepted: {', '.join(accepted)}"
            )
    required = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty]
    for name in required:
        if name not in params:
            raise ValueError(
                f"params.{name} is required by schedule {family!r}: give a value, "
                f"a search range {{low, high}}, {{choices: [...]}} or {BUDGET!r}"
            )

    def fill(value: Any) -> Any:
        return budget() if value == BUDGET else value

    base = {name: fill(representative(space)) for name, space in params.items()}
    try:
        build({"name": family, **base})
    except ValueError as err:
        name = getattr(err, "name", None)  # a CheckError names the schedule argument
        if name in params:
            where = f"params.{name}: schedule {family!r} fails at {label(params[name])}"
            raise ValueError(f"{where} {base[name]!r}: {err}") from None
        shown = ", ".join(f"{k}: {v!r}" for k, v in base.items())
        raise ValueError(
            f"params: schedule {family!r} fails at the low/first-choice values ({shown}): {err}"
        ) from None
