"""Run configuration: validation with errors that name the key, and ``--set`` overrides."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autolr.registry import did_you_mean


class RunConfig(BaseModel):
    """The keys of an ``autolr run`` config (a contract: keep the names).

    task:        {name, ...task params}
    controller:  {name, ...controller params}; default: fixed cosine from the task's lr
    budget_steps: every optimizer step charged (kept, probes, range tests, rollbacks);
                  default: the task's
    interval:    steps per controller decision
    seed:        model init and batch order
    eval_every:  steps between evaluations (0: only at the start and end); default: task's
    device:      "cpu" or "cuda"
    min_lr, max_lr: global LR bounds (default: the task's)
    lr_scale:    one factor per param group (layer-wise LR), as each group's ``lr_scale``
    lr_multipliers: the old name of ``lr_scale`` (still read)
    threads:     torch CPU threads for this run (default: torch's own choice)
    """

    model_config = ConfigDict(extra="forbid")

    task: dict[str, Any]
    controller: dict[str, Any] | None = None
    budget_steps: int | None = Field(default=None, ge=1)
    interval: int = Field(default=50, ge=1)
    seed: int = Field(default=0, ge=0)
    eval_every: int | None = Field(default=None, ge=0)
    device: str = "cpu"
    min_lr: float | None = Field(default=None, ge=0)
    max_lr: float | None = Field(default=None, gt=0)
    lr_scale: list[float] | None = None
    lr_multipliers: list[float] | None = None
    divergence_factor: float = Field(default=10.0, gt=1)
    rollback_lr_factor: float = Field(default=0.5, gt=0, lt=1)
    sharpness: bool = False
    checkpoint_every: int | None = Field(default=None, ge=1)
    threads: int | None = Field(default=None, ge=1)


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], raw: Any, what: str) -> M:
    """Validate ``raw`` into a pydantic model; a ValueError names the first bad key.

    ``what`` names the file kind in messages ("config", "suite").
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"{what} must be a mapping of keys, got {type(raw).__name__}")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            hint = did_you_mean(key, list(model.model_fields))
            raise ValueError(f"unknown {what} key {key!r}{hint}") from None
        if first["type"] == "missing":
            raise ValueError(f"{what} key {key!r} is required") from None
        raise ValueError(
            f"{what} key {key!r}: {first['msg']} (got {first.get('input')!r})"
        ) from None


def validate(raw: Any) -> RunConfig:
    """A RunConfig from a mapping; a ValueError names the first bad key and value."""
    cfg = parse_model(RunConfig, raw, "config")
    for section in ("task", "controller"):
        value = getattr(cfg, section)
        if value is not None and not isinstance(value.get("name"), str):
            raise ValueError(f"config key '{section}.name' is required (a registered name)")
    if cfg.lr_multipliers is not None:
        if cfg.lr_scale is not None:
            raise ValueError("config keys 'lr_scale' and 'lr_multipliers' (its old name) clash")
        cfg.lr_scale, cfg.lr_multipliers = cfg.lr_multipliers, None
    if cfg.device not in ("cpu", "cuda") and not cfg.device.startswith("cuda:"):
        raise ValueError(f"config key 'device' must be 'cpu' or 'cuda', got {cfg.device!r}")
    return cfg


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a copy of ``raw``."""
    out = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ValueError(f"--set {key}: {part!r} is not a mapping")
            node = child
        node[parts[-1]] = value
    return out
