"""Run configuration: validation with errors that name the key, and ``--set`` overrides."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from autolr import yamlio
from autolr.checks import CheckError, Int, NonNegative, Positive, Range
from autolr.loop.guard import GuardConfig
from autolr.loop.merge import MergeConfig
from autolr.registry import did_you_mean


class RunConfig(BaseModel):
    """The keys of an ``autolr run`` config (a contract: keep the names).

    task:        {name, ...task params}
    controller:  {name, ...controller params}; default: fixed cosine from the task's lr, or
                 the optimizer peer's own schedule
    optimizer:   {name, ...params}: an optimizer peer (``autolr.peers``) that replaces the
                 task's optimizer; default: the task's own
    budget_steps: every optimizer step charged (kept, probes, range tests, rollbacks);
                  default: the task's
    interval:    steps per controller decision
    seed:        model init and batch order
    eval_every:  steps between evaluations (0: only at the start and end); default: task's
    device:      "cpu" or "cuda"
    min_lr, max_lr: global LR bounds (default: the task's, or with an optimizer peer
                 [0, the peer's max_lr])
    lr_scale:    one factor per param group (layer-wise LR), as each group's ``lr_scale``
    lr_multipliers: the old name of ``lr_scale`` (still read)
    threads:     torch CPU threads for this run (default 1, as in bench: tiny models run
                 fastest on one, and many threads crawl on a machine shared with others)
    rescue:      on divergence, roll back and cap the LR (true) or end the run (false)
    merge:       {window_frac, weights, every, ema_decay, bn_batches}: checkpoint merging
                 (``autolr.loop.merge``); the run delivers the merged model
    sharpness:   put λmax(H) into each TrainingState (``autolr.loop.sharpness``)
    guard:       {sharpness: {every, factor, ...}}: cap the LR at factor · edge / λmax,
                 measured every ``every`` kept steps (``autolr.loop.guard``)
    """

    model_config = ConfigDict(extra="forbid")

    task: dict[str, Any]
    controller: dict[str, Any] | None = None
    optimizer: dict[str, Any] | None = None
    budget_steps: Int(1) | None = None
    interval: Int(1) = 50
    seed: Int(0) = 0
    eval_every: Int(0) | None = None
    device: str = "cpu"
    min_lr: NonNegative() | None = None
    max_lr: Positive() | None = None
    lr_scale: list[Positive()] | None = None
    lr_multipliers: list[Positive()] | None = None
    divergence_factor: Range(1.0, math.inf, low_open=True, high_open=True) = 10.0
    rollback_lr_factor: Range(0.0, 1.0, low_open=True, high_open=True) = 0.5
    sharpness: bool = False
    guard: GuardConfig | None = None
    rescue: bool = False
    checkpoint_every: Int(1) | None = None
    threads: Int(1) = 1
    merge: MergeConfig | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``model_dump`` (config.yaml, the checkpoint's copy, the default folder's hash)
        leaves ``optimizer``, ``merge`` and ``guard`` out when they are not set: a run without
        them resolves, hashes and resumes exactly as it did before the keys existed."""
        out: dict[str, Any] = handler(self)
        for key in ("optimizer", "merge", "guard"):
            if out.get(key) is None:
                out.pop(key, None)
        return out


M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]

# pydantic's own error types, worded as the requirement that ``autolr.checks`` would state.
_REQUIREMENTS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "finite",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}
_BOUNDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


class ConfigError(ValueError):
    """A bad config value; its message names the key path. A validator may raise one for a
    nested part (``parse_model(..., what="", root=...)``): the outer parse keeps it whole and
    puts its own ``what`` in front."""


def key_path(loc: Loc) -> str:
    """``("train", 0, "interval")`` as ``train[0].interval``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the (nested) model at ``loc``, for a did-you-mean."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = _inner_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``list[X]``, ``X | None``, ``dict[str, X]``; else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _requirement(error: Mapping[str, Any]) -> str | None:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _REQUIREMENTS:
        return _REQUIREMENTS[kind]
    if kind in _BOUNDS:
        bound = next(iter(v for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")))
        return f"{_BOUNDS[kind]} {bound}"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return "a non-empty list" if n == 1 else f"a list of at least {n} items"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    return None


def parse_model(model: type[M], raw: Any, what: str, root: Loc = ()) -> M:
    """Validate ``raw`` into a pydantic model; a ConfigError names the first bad key path.

    Messages read ``"{what}: {path} must be {requirement}, got {value!r}"``, ``"{what}:
    unknown key 'x' (did you mean 'y'?)"`` or ``"{what}: {path} is required"``. ``what``
    names the file kind ("config", "tune config"); ``root`` is the key path of ``raw``
    inside a larger config (then ``what`` may be "", and an outer parse adds its own).
    Values are checked by ``autolr.checks`` (its field types), whose requirement is kept.
    """
    head = f"{what}: " if what else ""
    if not isinstance(raw, Mapping):
        name = key_path(root) or what or "config"
        raise ConfigError(f"{name} must be a mapping of keys, got {raw!r}")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as err:
        errors = err.errors()
    # An unknown key first: a misspelt key also shows up as a missing one, and the
    # did-you-mean is the better message.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc: Loc = tuple(first["loc"])
    path = key_path(root + loc)
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):
        raise ConfigError(f"{head}{cause}") from None
    if isinstance(cause, CheckError):
        if cause.name in _fields_at(model, loc):  # raised by a model validator about a field
            path = key_path((*root, *loc, cause.name))
        raise ConfigError(f"{head}{cause.message(path)}") from None
    if first["type"] == "extra_forbidden":
        where = key_path(root + loc[:-1])
        hint = did_you_mean(str(loc[-1]), _fields_at(model, loc[:-1]))
        raise ConfigError(f"{head}{where + ': ' if where else ''}unknown key {loc[-1]!r}{hint}")
    if first["type"] == "missing":
        raise ConfigError(f"{head}{path} is required") from None
    requirement = _requirement(first)
    if requirement is not None:
        raise ConfigError(f"{head}{path} must be {requirement}, got {first.get('input')!r}")
    message = str(cause) if cause is not None else first["msg"]
    raise ConfigError(f"{head}{path + ': ' if path else ''}{message}") from None


def validate(raw: Any) -> RunConfig:
    """A RunConfig from a mapping; a ValueError names the first bad key and value."""
    cfg = parse_model(RunConfig, raw, "config")
    for section in ("task", "controller", "optimizer"):
        value = getattr(cfg, section)
        if value is not None and not isinstance(value.get("name"), str):
            raise ConfigError(f"config: {section}.name is required (a registered name)")
    if cfg.lr_multipliers is not None:
        if cfg.lr_scale is not None:
            raise ConfigError("config: lr_scale and lr_multipliers (its old name) clash")
        cfg.lr_scale, cfg.lr_multipliers = cfg.lr_multipliers, None
    if cfg.device not in ("cpu", "cuda") and not cfg.device.startswith("cuda:"):
        raise ConfigError(f"config: device must be 'cpu' or 'cuda', got {cfg.device!r}")
    controller = cfg.controller or {}
    schedule = controller.get("schedule") if controller.get("name") == "fixed" else None
    if isinstance(schedule, Mapping) and schedule.get("name") == "wsm" and cfg.merge is None:
        raise ConfigError(
            "config: schedule 'wsm' merges checkpoints instead of decaying: set the run key "
            "merge (e.g. merge: {window_frac: 0.2, weights: sqrt}), or use 'constant'"
        )
    return cfg


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a copy of ``raw``."""
    out = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            value = yamlio.load(text)
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
