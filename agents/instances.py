"""Instance sets: lists or distributions over task instances, with train and test splits.

A *family* is a mapping::

    {task: {name: nqm, ...fixed params},
     params: {dim: [20, 50], batch_size: {low: 4, high: 64, log: true, integer: true}},
     lr_factor: {low: 0.125, high: 2.0, log: true},  # or a list; initial LR = task lr × factor
     seeds: {low: 0, high: 10000},                     # or a list of data/run seeds
     budget_steps: 200, interval: 20}

A value is either a list (uniform choice) or a distribution ``{low, high, log, integer}``
(uniform, or log-uniform with ``log: true``). An instance set is ``{train: [family, ...],
test: [family, ...]}``. ``sample`` draws one instance; ``enumerate`` lists every instance of a
split whose values are all lists (the held-out evaluation needs a finite set).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from autolr.checks import CheckError, Int
from autolr.loop.trainee import task_info
from autolr.registry import did_you_mean
from autolr.running.config import ConfigError, parse_model

SPLITS = ("train", "test")

DEFAULT_INSTANCES: dict[str, list[dict[str, Any]]] = {
    "train": [
        {
            "task": {"name": "nqm"},
            "params": {"dim": [10, 25, 50, 100, 150], "batch_size": [4, 16, 64, 256]},
            "lr_factor": {"low": 0.125, "high": 2.0, "log": True},
            "seeds": {"low": 0, "high": 10000},
            "budget_steps": 200,
            "interval": 20,
        }
    ],
    "test": [
        {
            "task": {"name": "nqm"},
            "params": {"dim": [30, 200], "batch_size": [8, 128]},
            "lr_factor": [0.25, 1.0],
            "seeds": [10000, 10001, 10002, 10003, 10004],
            "budget_steps": 200,
            "interval": 20,
        }
    ],
}


@dataclass(frozen=True)
class Instance:
    """One task instance: a task spec, a seed, an initial LR, a budget and an interval."""

    task: dict[str, Any]
    seed: int
    lr: float
    budget_steps: int
    interval: int
    label: str = field(default="", compare=False)

    def key(self) -> str:
        """The instance without its seed (an evaluation groups seeds by this)."""
        params = ",".join(f"{k}={v}" for k, v in sorted(self.task.items()) if k != "name")
        return f"{self.task['name']}({params}) lr={self.lr:.4g}"


def _is_dist(value: Any) -> bool:
    return isinstance(value, Mapping) and "low" in value and "high" in value


def check_values(name: str, value: Any) -> Any:
    """A list of values (a uniform choice) or a distribution ``{low, high, log?, integer?}``."""
    if _is_dist(value):
        low, high = value["low"], value["high"]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not (numbers and low <= high):
            raise CheckError(name, dict(value), "a range with numbers low <= high")
        if value.get("log") and low <= 0:
            raise CheckError(name, dict(value), "a range with low > 0 (log: true)")
        return dict(value)
    if not isinstance(value, list | tuple) or not value:
        raise CheckError(name, value, "a non-empty list or {low, high}")
    return list(value)


Values = Annotated[Any, PlainValidator(lambda v, info: check_values(info.field_name or "", v))]


def _draw(value: Any, rng: np.random.Generator) -> Any:
    if not _is_dist(value):
        return value[int(rng.integers(len(value)))]
    low, high = float(value["low"]), float(value["high"])
    x = (
        math.exp(rng.uniform(math.log(low), math.log(high)))
        if value.get("log")
        else rng.uniform(low, high)
    )
    return round(x) if value.get("integer") else float(x)


class Family(BaseModel):
    """One family of instances (see the module docstring for the keys)."""

    model_config = ConfigDict(extra="forbid")
    task: dict[str, Any]
    params: dict[str, Values] = Field(default_factory=dict)
    lr_factor: Values = Field(default_factory=lambda: [1.0])
    seeds: Values = Field(default_factory=lambda: {"low": 0, "high": 10000})
    budget_steps: Int(1) | None = None
    interval: Int(1) = 20

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, raw: Any) -> Any:
        # ``lr_scale`` was this key's name; it now means layer-wise LR everywhere else.
        if isinstance(raw, Mapping) and "lr_scale" in raw:
            if "lr_factor" in raw:
                raise CheckError("lr_scale", raw["lr_scale"], "absent when lr_factor is given")
            raw = {("lr_factor" if k == "lr_scale" else k): v for k, v in raw.items()}
        return raw

    @field_validator("task", mode="before")
    @classmethod
    def _task(cls, task: Any) -> Any:
        task = {"name": task} if isinstance(task, str) else task
        if not isinstance(task, Mapping) or "name" not in task:
            raise CheckError("task", task, "a mapping with a 'name'")
        return dict(task)

    @field_validator("params", mode="before")
    @classmethod
    def _no_params(cls, params: Any) -> Any:
        return {} if params is None else params

    @model_validator(mode="after")
    def _task_accepts_params(self) -> Family:
        task_info({**self.task, **{k: _first(v) for k, v in self.params.items()}})
        return self

    def make(self, params: Mapping[str, Any], scale: float, seed: int) -> Instance:
        task = {**self.task, **params}
        info = task_info(task)
        budget = self.budget_steps or info.budget_steps
        return Instance(task, int(seed), info.lr * float(scale), budget, self.interval)

    def sample(self, rng: np.random.Generator) -> Instance:
        params = {k: _draw(v, rng) for k, v in self.params.items()}
        seed = _draw(self.seeds, rng)
        return self.make(params, _draw(self.lr_factor, rng), int(seed))

    def enumerate(self, where: str) -> list[Instance]:
        values = {"lr_factor": self.lr_factor, "seeds": self.seeds, **self.params}
        for name, value in values.items():
            if _is_dist(value):
                raise ValueError(f"{where}.{name} must be a list to enumerate, got {value!r}")
        names = list(self.params)
        out = []
        for combo in itertools.product(*(self.params[n] for n in names)):
            for scale in self.lr_factor:
                for seed in self.seeds:
                    out.append(self.make(dict(zip(names, combo, strict=True)), scale, int(seed)))
        return out


def _first(value: Any) -> Any:
    return value["low"] if _is_dist(value) else value[0]


class InstancesSpec(BaseModel):
    """An instance set's spec: ``{train: [family, ...], test: [family, ...]}``."""

    model_config = ConfigDict(extra="forbid")
    train: list[Family] = Field(min_length=1)
    test: list[Family] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _known_splits(cls, spec: Any) -> Any:
        for key in spec if isinstance(spec, Mapping) else ():
            if key not in SPLITS:
                hint = did_you_mean(str(key), list(SPLITS))
                raise ConfigError(f"instances: unknown split {key!r}{hint}; accepted: train, test")
        return spec


class InstanceSet:
    """Train and test families; ``sample(split, rng)`` and ``enumerate(split)``."""

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        spec = DEFAULT_INSTANCES if spec is None else spec
        parsed = parse_model(InstancesSpec, spec, "", root=("instances",))
        self.families: dict[str, list[Family]] = {"train": parsed.train, "test": parsed.test}

    def sample(self, split: str, rng: np.random.Generator) -> Instance:
        fams = self.families[check_split(split)]
        return fams[int(rng.integers(len(fams)))].sample(rng)

    def enumerate(self, split: str) -> list[Instance]:
        fams = self.families[check_split(split)]
        return [x for i, f in enumerate(fams) for x in f.enumerate(f"instances.{split}[{i}]")]


def check_split(split: Any) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return str(split)


def _checked_instances(instances: dict[str, Any] | None) -> dict[str, Any] | None:
    if instances is not None:
        InstanceSet(instances)
    return instances


# A config key holding an instance-set spec (or None for the shipped set), kept as given
# after it is checked by building the set once.
InstancesField = Annotated[dict[str, Any] | None, AfterValidator(_checked_instances)]
