"""Instance sets: lists or distributions over task instances, with train and test splits.

A *family* is a mapping::

    {task: {name: nqm, ...fixed params},
     params: {dim: [20, 50], batch_size: {low: 4, high: 64, log: true, integer: true}},
     lr_factor: {low: 0.125, high: 2.0, log: true},  # or a list; initial LR = task lr × factor
     seeds: {low: 0, high: 10000},                     # or a list of data/run seeds
     budget_steps: 200, interval: 20,                  # an int, a list or {low, high}
     family: synthetic}                                # optional label (leave-one-out)

A value is either a list (uniform choice) or a distribution ``{low, high, log, integer}``
(uniform, or log-uniform with ``log: true``). An instance set is ``{train: [family, ...],
test: [family, ...]}``. ``sample`` draws one instance; ``enumerate`` lists every instance of a
split whose values are all lists (the held-out evaluation needs a finite set).

Where a config takes an instance set (``instances:``) it also takes the name of a shipped
set (``agents/instance_sets/<name>.yaml``, e.g. ``instances: families``), and either form
with ``leave_out: <family label>``: ``{set: families, leave_out: vision}`` or ``{train: ...,
test: ..., leave_out: vision}`` (``leave_one_family_out``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from autolr.checks import CheckError, check_int
from autolr.loop.trainee import task_info
from autolr.registry import did_you_mean
from autolr.running.config import ConfigError, parse_model

SPLITS = ("train", "test")
# keys of an instances spec besides the splits (resolved before the spec is parsed)
SPEC_KEYS = ("set", "leave_out")
SETS_DIR = Path(__file__).with_name("instance_sets")

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


def check_steps(name: str, value: Any) -> Any:
    """An int >= 1, or a list or ``{low, high}`` of them (drawn like any value)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return check_int(name, value, 1)
    value = check_values(name, value)
    for v in [value["low"], value["high"]] if _is_dist(value) else value:
        check_int(name, v, 1)
    return value


Steps = Annotated[Any, PlainValidator(lambda v, info: check_steps(info.field_name or "", v))]


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
    budget_steps: Steps | None = None
    interval: Steps = 20
    family: str | None = None  # a label grouping entries (e.g. vision), for leave_out

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

    def make(
        self,
        params: Mapping[str, Any],
        scale: float,
        seed: int,
        budget: int | None = None,
        interval: int | None = None,
    ) -> Instance:
        task = {**self.task, **params}
        info = task_info(task)
        budget = budget or _scalar(self.budget_steps) or info.budget_steps
        interval = interval or _scalar(self.interval)
        return Instance(task, int(seed), info.lr * float(scale), int(budget), int(interval))

    def sample(self, rng: np.random.Generator) -> Instance:
        params = {k: _draw(v, rng) for k, v in self.params.items()}
        seed = _draw(self.seeds, rng)
        scale = _draw(self.lr_factor, rng)
        # drawn only when they vary, so a set with fixed ones samples as it always did
        budget, interval = (
            None if v is None or _scalar(v) else int(_draw(v, rng))
            for v in (self.budget_steps, self.interval)
        )
        return self.make(params, scale, int(seed), budget, interval)

    def enumerate(self, where: str) -> list[Instance]:
        steps = {"budget_steps": self.budget_steps, "interval": self.interval}
        values = {"lr_factor": self.lr_factor, "seeds": self.seeds, **self.params, **steps}
        for name, value in values.items():
            if _is_dist(value):
                raise ValueError(f"{where}.{name} must be a list to enumerate, got {value!r}")
        names = list(self.params)
        budgets, intervals = ([None] if _scalar(v) or v is None else v for v in steps.values())
        out = []
        for combo in itertools.product(*(self.params[n] for n in names)):
            params = dict(zip(names, combo, strict=True))
            for budget, interval in itertools.product(budgets, intervals):
                for scale in self.lr_factor:
                    for seed in self.seeds:
                        out.append(self.make(params, scale, int(seed), budget, interval))
        return out


def _first(value: Any) -> Any:
    return value["low"] if _is_dist(value) else value[0]


def _scalar(value: Any) -> int | None:
    return value if isinstance(value, int) else None


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
                raise _unknown_key(key)
        return spec


def _unknown_key(key: Any) -> ConfigError:
    hint = did_you_mean(str(key), list(SPLITS)) or did_you_mean(str(key), list(SPEC_KEYS))
    return ConfigError(
        f"instances: unknown split {key!r}{hint}; accepted: train, test (and set, leave_out)"
    )


def shipped_sets() -> list[str]:
    """The names of the shipped instance sets (``agents/instance_sets/*.yaml``)."""
    return sorted(p.stem for p in SETS_DIR.glob("*.yaml"))


@functools.cache
def _read_set(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SETS_DIR / f"{name}.yaml").read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"instance set {name!r} ({SETS_DIR / name}.yaml) is not a mapping")
    return data


def load_instance_set(name: Any) -> dict[str, Any]:
    """The spec of the shipped instance set ``name`` (a fresh copy, safe to change)."""
    names = shipped_sets()
    if not isinstance(name, str) or name not in names:
        hint = did_you_mean(str(name), names) if isinstance(name, str) else ""
        raise ConfigError(
            f"instances: unknown instance set {name!r}{hint}; shipped: {', '.join(names)}"
        )
    # keys other than the splits (``x-...``) hold YAML anchors that the entries merge in
    return {k: v for k, v in yaml.safe_load(yaml.safe_dump(_read_set(name))).items() if k in SPLITS}


def family_labels(spec: Mapping[str, Any]) -> list[str]:
    """The ``family`` labels of a spec's entries, in order of first appearance."""
    labels: dict[str, None] = {}
    for split in SPLITS:
        for fam in spec.get(split) or ():
            if isinstance(fam, Mapping) and fam.get("family") is not None:
                labels.setdefault(str(fam["family"]), None)
    return list(labels)


def leave_one_family_out(spec: Mapping[str, Any], family: str) -> dict[str, Any]:
    """Leave-one-family-out: train on the train entries of every family but ``family``,
    test on the test entries of ``family`` alone. Every entry must carry a ``family``."""
    for split in SPLITS:
        for i, fam in enumerate(spec.get(split) or ()):
            if not isinstance(fam, Mapping) or fam.get("family") is None:
                raise ConfigError(
                    f"instances.leave_out needs a family label on every entry; "
                    f"instances.{split}[{i}] has none"
                )
    labels = family_labels(spec)
    if family not in labels:
        hint = did_you_mean(str(family), labels)
        raise ConfigError(
            f"instances.leave_out: unknown family {family!r}{hint}; families: {', '.join(labels)}"
        )
    train = [f for f in spec["train"] if f["family"] != family]
    test = [f for f in spec["test"] if f["family"] == family]
    if not train:
        raise ConfigError(f"instances.leave_out: {family!r} leaves no family to train on")
    if not test:
        raise ConfigError(f"instances.leave_out: family {family!r} has no test entries")
    return {"train": train, "test": test}


def resolve_spec(spec: Mapping[str, Any] | str | None) -> Mapping[str, Any]:
    """A plain ``{train, test}`` spec from None (the nqm set), a shipped set's name, or a
    mapping with ``set`` (a shipped set's name) and/or ``leave_out`` (a family label)."""
    if spec is None:
        return DEFAULT_INSTANCES
    if isinstance(spec, str):
        return load_instance_set(spec)
    if not isinstance(spec, Mapping) or not any(k in spec for k in SPEC_KEYS):
        return spec
    base: Mapping[str, Any] = {k: v for k, v in spec.items() if k not in SPEC_KEYS}
    for key in base:
        if key not in SPLITS:
            raise _unknown_key(key)
    if "set" in spec:
        if base:
            raise ConfigError(
                f"instances: set {spec['set']!r} takes no {', '.join(map(repr, base))} "
                "(give a shipped set's name or train and test, not both)"
            )
        base = load_instance_set(spec["set"])
    if "leave_out" in spec:
        if not isinstance(spec["leave_out"], str):
            raise ConfigError(
                f"instances.leave_out must be a family label, got {spec['leave_out']!r}"
            )
        base = leave_one_family_out(base, spec["leave_out"])
    return base


class InstanceSet:
    """Train and test families; ``sample(split, rng)`` and ``enumerate(split)``.

    ``spec``: a ``{train, test}`` mapping, a shipped set's name, or either with ``set`` /
    ``leave_out`` (``resolve_spec``); None for the nqm set ``DEFAULT_INSTANCES``."""

    def __init__(self, spec: Mapping[str, Any] | str | None = None) -> None:
        parsed = parse_model(InstancesSpec, resolve_spec(spec), "", root=("instances",))
        self.families: dict[str, list[Family]] = {"train": parsed.train, "test": parsed.test}

    def labels(self) -> list[str]:
        """The family labels present, in order of first appearance."""
        seen = [f.family for s in SPLITS for f in self.families[s] if f.family is not None]
        return list(dict.fromkeys(seen))

    def sample(self, split: str, rng: np.random.Generator) -> Instance:
        """One instance: a uniformly drawn entry of the split; where every entry carries a
        ``family`` label, a uniformly drawn label first, then one of its entries (so a
        family's weight does not grow with its number of entries)."""
        fams = self.families[check_split(split)]
        labels = [f.family for f in fams]
        if None not in labels:
            label = list(dict.fromkeys(labels))[int(rng.integers(len(set(labels))))]
            fams = [f for f in fams if f.family == label]
        return fams[int(rng.integers(len(fams)))].sample(rng)

    def enumerate(self, split: str) -> list[Instance]:
        """Every instance of the split; a ValueError where two share a key (task, LR) but
        differ in budget or interval (an evaluation groups an instance's seeds by key)."""
        fams = self.families[check_split(split)]
        out = [x for i, f in enumerate(fams) for x in f.enumerate(f"instances.{split}[{i}]")]
        steps: dict[str, tuple[int, int]] = {}
        for inst in out:
            if steps.setdefault(inst.key(), (inst.budget_steps, inst.interval)) != (
                inst.budget_steps,
                inst.interval,
            ):
                raise ValueError(
                    f"instances.{split}: {inst.key()} appears with two budgets or intervals; "
                    "an evaluation groups seeds by task and LR, so give each its own task "
                    "parameters or LR"
                )
        return out


def check_split(split: Any) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return str(split)


def _checked_instances(instances: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
    if instances is not None:
        InstanceSet(instances)
    return instances


# A config key holding an instance-set spec, a shipped set's name (``resolve_spec``) or None
# for the nqm set, kept as given after it is checked by building the set once.
InstancesField = Annotated[dict[str, Any] | str | None, AfterValidator(_checked_instances)]
