"""Checking a whole suite before anything is written: every task's run keys, every baseline's
schedule, every controller and every optimizer peer, built once per task they run on, and
every population's keys.

A run that can only fail should fail here, with the suite's key path in the message
(``suite: controllers[0].patience must be an integer >= 0, got -3``), not as a ``[failed]``
cell whose reason sits in the results store. Nothing here trains, writes or mutates the
suite: builders get copies of the specs.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, get_args, get_type_hints

from autolr.checks import CheckError, check_range
from autolr.loop.merge import MergeConfig
from autolr.loop.trainee import TaskInfo
from autolr.registry import did_you_mean
from autolr.running.config import ConfigError, RunConfig, parse_model

if TYPE_CHECKING:
    from autolr.bench.cells import Method, TaskEntry
    from autolr.bench.suite import Suite

HEAD = "suite: "
TASK_KINDS: tuple[str, ...] = get_args(get_type_hints(TaskInfo)["kind"])


def unknown_key(path: str, key: str, accepted: Iterable[str]) -> ConfigError:
    """``suite: {path}.{key}: unknown key (did you mean ...?)``, or the accepted keys."""
    names = sorted(accepted)
    hint = did_you_mean(key, names)
    if not hint:
        hint = f"; accepted: {', '.join(names)}" if names else "; it takes no parameters"
    return ConfigError(f"{HEAD}{path}.{key}: unknown key{hint}")


def reworded(path: str, err: ValueError, keys: Iterable[str], context: str = "") -> ConfigError:
    """``err`` with the suite's key path: a CheckError about one of ``keys`` names
    ``{path}.{key}``; anything else is prefixed by ``path`` (and ``context``, e.g. which
    task it was built for)."""
    if isinstance(err, ConfigError):
        return err
    if isinstance(err, CheckError) and err.name in set(keys):
        return ConfigError(f"{HEAD}{err.message(f'{path}.{err.name}')}")
    where = f"{path} ({context})" if context else path
    return ConfigError(f"{HEAD}{where}: {err}")


def parameters(obj: Any, skip: Iterable[str] = ()) -> list[str] | None:
    """The keyword names ``obj`` accepts, or None if it takes ``**kwargs`` (anything goes)."""
    params = inspect.signature(obj).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name not in set(skip)]


def check_run_keys(i: int, spec: Mapping[str, Any], run: Mapping[str, Any]) -> None:
    """A task's run keys (budget_steps, eval_every, ...) by the rules of ``autolr run``."""
    parse_model(RunConfig, {"task": dict(spec), **run}, "suite", root=("tasks", i))
    device = run.get("device", "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ConfigError(f"{HEAD}tasks[{i}].device must be 'cpu' or 'cuda', got {device!r}")


def check_task_params(i: int, factory: Any, spec: Mapping[str, Any]) -> None:
    """The task's own parameters are ones its factory takes (a did-you-mean otherwise)."""
    accepted = parameters(factory, skip=("seed", "device"))
    if accepted is None:
        return
    for key in spec:
        if key != "name" and key not in accepted:
            raise unknown_key(f"tasks[{i}]", key, [*accepted, "label", "budget_steps"])


def check_kinds(path: str, kinds: Any) -> None:
    if kinds is None:
        return
    if not isinstance(kinds, list | tuple) or not kinds:
        raise ConfigError(
            f"{HEAD}{path}.kinds must be a non-empty list of task kinds, got {kinds!r}"
        )
    for kind in kinds:
        if kind not in TASK_KINDS:
            hint = did_you_mean(kind, list(TASK_KINDS)) if isinstance(kind, str) else ""
            raise ConfigError(
                f"{HEAD}{path}.kinds: {kind!r} is not a task kind ({', '.join(TASK_KINDS)}){hint}"
            )


def check_suite(suite: Suite) -> None:
    """Build every method on every task it applies to, once; raise a ConfigError naming the
    first bad key path. The suite is left exactly as it was."""
    import torch

    from autolr.controllers.base import CONTROLLERS, build_controller
    from autolr.loop.merge import Merger
    from autolr.schedules.base import family_factory

    for i, method in enumerate(suite.baselines):
        path = f"baselines[{i}]"
        check_kinds(path, suite.cfg.baselines[i].get("kinds"))
        accepted = parameters(family_factory(method.spec["name"])) or []
        _check_fracs(path, method, accepted)
        # where a merge key sits: under merge, or (wsm's own keys) at the entry's top level
        merge_path = f"{path}.merge" if "merge" in suite.cfg.baselines[i] else path
        for task in _applicable(suite, method):
            budget = task.run["budget_steps"]
            try:
                spec = suite.baseline_schedule(task, method, task.info.lr)
                ctrl = {"name": "fixed", "schedule": spec}
                build_controller(copy.deepcopy(ctrl), task.info.lr, budget)
            except ValueError as err:
                raise reworded(path, err, method.spec, _context(task)) from None
            if method.merge is not None:
                try:
                    Merger(method.merge, budget, torch.nn.Linear(2, 1))
                except ValueError as err:
                    raise reworded(merge_path, err, method.merge, _context(task)) from None

    for i, method in enumerate(suite.controllers):
        path = f"controllers[{i}]"
        check_kinds(path, suite.cfg.controllers[i].get("kinds"))
        accepted = parameters(CONTROLLERS.get(method.spec["name"]))
        if accepted is not None:
            for key in method.spec:
                if key != "name" and key not in accepted:
                    raise unknown_key(path, key, [*accepted, "label", "kinds"])
        for task in _applicable(suite, method):
            budget = task.run["budget_steps"]
            try:
                build_controller(copy.deepcopy(method.spec), task.info.lr, budget)
            except ValueError as err:
                raise reworded(path, err, method.spec, _context(task)) from None

    check_peers(suite)
    check_populations(suite)


def check_populations(suite: Suite) -> None:
    """Every population entry's kinds, and Ray Tune installed if the suite has one (its
    keys and interval were checked when the suite read them)."""
    import importlib.util

    from autolr.population.run import RAY_HINT

    for i, _method in enumerate(suite.populations):
        check_kinds(f"populations[{i}]", suite.cfg.populations[i].get("kinds"))
    if suite.populations and importlib.util.find_spec("ray") is None:
        raise ConfigError(f"{HEAD}populations: {RAY_HINT}")


def check_peers(suite: Suite) -> None:
    """Every optimizer peer: its keys against its optimizer's and its own, then the peer
    built on a two-weight model with each task's budget (its optimizer constructed, its
    schedule built as its ``fixed`` controller), on each task it runs on."""
    import torch

    from autolr.controllers.base import build_controller
    from autolr.peers.base import PEERS

    for i, method in enumerate(suite.optimizers):
        path = f"optimizers[{i}]"
        check_kinds(path, suite.cfg.optimizers[i].get("kinds"))
        cls = PEERS.get(method.spec["name"])
        try:
            accepted = cls.accepted()
        except ValueError as err:  # its package is missing
            raise reworded(path, err, ()) from None
        for key in method.spec:
            if key != "name" and key not in accepted:
                raise unknown_key(path, key, [*accepted, "label", "kinds"])
        params = {k: v for k, v in copy.deepcopy(method.spec).items() if k != "name"}
        for task in _applicable(suite, method):
            budget = task.run["budget_steps"]
            try:
                peer = cls(**params)
                peer.build(torch.nn.Linear(2, 1), budget)
                build_controller(peer.controller(budget), peer.lr, budget)
            except ValueError as err:
                raise reworded(path, err, method.spec, _context(task)) from None


def _check_fracs(path: str, method: Method, accepted: list[str]) -> None:
    """Keys of a baseline's schedule: its family's parameters, or ``{param}_frac`` for a
    fraction in [0, 1] of the task's budget."""
    fracs = [f"{p}_frac" for p in accepted]
    for key, value in method.spec.items():
        if key == "name":
            continue
        if key.endswith("_frac") and key.removesuffix("_frac") in accepted:
            try:
                check_range(key, value, 0, 1)
            except CheckError as err:
                raise ConfigError(f"{HEAD}{err.message(f'{path}.{key}')}") from None
        elif key not in accepted:
            extra = ["label", "kinds", "tuned", "merge"]
            if method.spec["name"] == "wsm":  # its merge keys may sit at its top level
                extra += list(MergeConfig.model_fields)
            raise unknown_key(path, key, [*accepted, *fracs, *extra])


def _applicable(suite: Suite, method: Method) -> list[TaskEntry]:
    return [t for t in suite.tasks if method.applies(t)]


def _context(task: TaskEntry) -> str:
    return f"on task {task.label!r}, budget {task.run['budget_steps']}"
