"""Instance sets: lists or distributions over task instances, with train and test splits.

A *family* is a mapping::

    {task: {name: nqm, ...fixed params},
     params: {dim: [20, 50], batch_size: {low: 4, high: 64, log: true, integer: true}},
     lr_scale: {low: 0.125, high: 2.0, log: true},   # or a list; base LR = task lr × scale
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autolr.loop.trainee import task_info

SPLITS = ("train", "test")

DEFAULT_INSTANCES: dict[str, list[dict[str, Any]]] = {
    "train": [
        {
            "task": {"name": "nqm"},
            "params": {"dim": [10, 25, 50, 100, 150], "batch_size": [4, 16, 64, 256]},
            "lr_scale": {"low": 0.125, "high": 2.0, "log": True},
            "seeds": {"low": 0, "high": 10000},
            "budget_steps": 200,
            "interval": 20,
        }
    ],
    "test": [
        {
            "task": {"name": "nqm"},
            "params": {"dim": [30, 200], "batch_size": [8, 128]},
            "lr_scale": [0.25, 1.0],
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


def _check_value(where: str, value: Any) -> None:
    if _is_dist(value):
        low, high = value["low"], value["high"]
        if not (isinstance(low, int | float) and isinstance(high, int | float) and low <= high):
            raise ValueError(f"{where} must have numbers low <= high, got {dict(value)!r}")
        if value.get("log") and low <= 0:
            raise ValueError(f"{where} with log: true needs low > 0, got {low!r}")
    elif not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{where} must be a non-empty list or {{low, high}}, got {value!r}")


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


class Family:
    """One family of instances (see the module docstring for the keys)."""

    KEYS = ("task", "params", "lr_scale", "seeds", "budget_steps", "interval")

    def __init__(self, spec: Mapping[str, Any], where: str) -> None:
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where} must be a mapping, got {spec!r}")
        for key in spec:
            if key not in self.KEYS:
                raise ValueError(f"{where}: unknown key {key!r}; accepted: {', '.join(self.KEYS)}")
        task = spec.get("task")
        if isinstance(task, str):
            task = {"name": task}
        if not isinstance(task, Mapping) or "name" not in task:
            raise ValueError(f"{where}.task must be a mapping with a 'name', got {task!r}")
        self.task = dict(task)
        self.params = dict(spec.get("params") or {})
        for name, value in self.params.items():
            _check_value(f"{where}.params.{name}", value)
        self.lr_scale = spec.get("lr_scale", [1.0])
        self.seeds = spec.get("seeds", {"low": 0, "high": 10000})
        _check_value(f"{where}.lr_scale", self.lr_scale)
        _check_value(f"{where}.seeds", self.seeds)
        self.budget_steps = spec.get("budget_steps")
        self.interval = spec.get("interval", 20)
        for key in ("budget_steps", "interval"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{where}.{key} must be an integer >= 1, got {v!r}")
        task_info({**self.task, **{k: _first(v) for k, v in self.params.items()}})

    def make(self, params: Mapping[str, Any], scale: float, seed: int) -> Instance:
        task = {**self.task, **params}
        info = task_info(task)
        budget = self.budget_steps or info.budget_steps
        return Instance(task, int(seed), info.lr * float(scale), budget, self.interval)

    def sample(self, rng: np.random.Generator) -> Instance:
        params = {k: _draw(v, rng) for k, v in self.params.items()}
        seed = _draw(self.seeds, rng)
        return self.make(params, _draw(self.lr_scale, rng), int(seed))

    def enumerate(self, where: str) -> list[Instance]:
        values = {"lr_scale": self.lr_scale, "seeds": self.seeds, **self.params}
        for name, value in values.items():
            if _is_dist(value):
                raise ValueError(f"{where}.{name} must be a list to enumerate, got {value!r}")
        names = list(self.params)
        out = []
        for combo in itertools.product(*(self.params[n] for n in names)):
            for scale in self.lr_scale:
                for seed in self.seeds:
                    out.append(self.make(dict(zip(names, combo)), scale, int(seed)))
        return out


def _first(value: Any) -> Any:
    return value["low"] if _is_dist(value) else value[0]


class InstanceSet:
    """Train and test families; ``sample(split, rng)`` and ``enumerate(split)``."""

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        spec = DEFAULT_INSTANCES if spec is None else spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"instances must be a mapping of splits, got {spec!r}")
        for key in spec:
            if key not in SPLITS:
                raise ValueError(f"instances: unknown split {key!r}; accepted: train, test")
        self.families: dict[str, list[Family]] = {}
        for split in SPLITS:
            fams = spec.get(split)
            if not isinstance(fams, Sequence) or isinstance(fams, str) or not fams:
                raise ValueError(f"instances.{split} must be a non-empty list, got {fams!r}")
            self.families[split] = [
                Family(f, f"instances.{split}[{i}]") for i, f in enumerate(fams)
            ]

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
