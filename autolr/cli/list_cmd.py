"""``autolr list tasks|controllers|schedules|optimizers|peers|populations|executors``: the names the
registries know, one per line, with the first line of each one's docstring.

Registries load their entries lazily; listing loads every entry, so an entry whose package
cannot be imported is listed with the reason instead of a description.
"""

from __future__ import annotations

import argparse
import inspect
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from autolr.checks import CheckError
from autolr.registry import Registry

Entries = list[tuple[str, str]]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "list",
        help="list the registered tasks, controllers, schedules, optimizers, peers, populations "
        "or executors",
        description="Print the names a config may use, one per line, with a one-line "
        "description. 'optimizers' are the optimizer families the registered tasks accept "
        "(their 'optimizer' parameter); 'peers' are the self-tuning optimizers that may "
        "replace a task's optimizer (a run's 'optimizer' key, a suite's 'optimizers'); "
        "'populations' are the population methods of a suite's 'populations'.",
    )
    p.add_argument("what", choices=sorted(LISTS), help="which names to list")
    p.set_defaults(func=run_list)


def first_line(obj: Any) -> str:
    """The first sentence of ``obj``'s docstring's first paragraph, on one line."""
    doc = (inspect.getdoc(obj) or "").strip().split("\n\n")[0]
    text = " ".join(doc.split()).replace("``", "")
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def registry_entries(registry: Registry[Any], get: Callable[[str], Any] | None = None) -> Entries:
    out = []
    for name in registry.names():
        try:
            obj = (get or registry.get)(name)
        except Exception as err:  # one broken plugin must not hide the other names
            out.append((name, f"(cannot be loaded: {err})"))
            continue
        out.append((name, first_line(obj)))
    return out


def tasks() -> Entries:
    from autolr.loop.trainee import TASKS

    return registry_entries(TASKS)


def controllers() -> Entries:
    import autolr.controllers  # noqa: F401  (registers the built-ins)
    from autolr.controllers.base import CONTROLLERS

    return registry_entries(CONTROLLERS)


def schedules() -> Entries:
    from autolr.schedules.base import SCHEDULES, family_factory

    family_factory("constant")  # loads every family module, which registers the families
    return registry_entries(SCHEDULES, family_factory)


def executors() -> Entries:
    from autolr.executor import EXECUTORS

    return registry_entries(EXECUTORS)


def peers() -> Entries:
    from autolr.peers import PEERS

    return registry_entries(PEERS)


def populations() -> Entries:
    from autolr.population.config import MODELS

    return [(name, first_line(model)) for name, model in MODELS.items()]


def optimizers() -> Entries:
    """The values each task's ``optimizer`` parameter accepts, read from the task's own check
    (its ``describe`` refuses an impossible name with the list of choices), so autolr names
    no optimizer itself; a task whose ``describe`` needs data (a path) shows its default."""
    from autolr.loop.trainee import TASKS

    accepted: dict[str, list[str]] = defaultdict(list)
    defaults: dict[str, list[str]] = defaultdict(list)  # tasks whose choices could not be read
    for name in TASKS.names():
        try:
            factory = TASKS.get(name)
            param = inspect.signature(factory).parameters.get("optimizer")
        except Exception:
            continue
        if param is None:
            continue
        choices: tuple[Any, ...] = ()
        try:
            factory.describe(optimizer="\0")
        except CheckError as err:
            if err.name == "optimizer":
                choices = err.choices
        except Exception:  # a task that needs its data (a path) to describe itself
            pass
        for choice in choices:
            accepted[str(choice)].append(name)
        if not choices and isinstance(param.default, str):
            defaults[param.default].append(name)
    out = []
    for opt in sorted(accepted.keys() | defaults.keys()):
        about = [f"accepted by {', '.join(accepted[opt])}"] if accepted[opt] else []
        about += [f"the default of {', '.join(defaults[opt])}"] if defaults[opt] else []
        out.append((opt, "; ".join(about)))
    return out


LISTS: dict[str, Callable[[], Entries]] = {
    "tasks": tasks,
    "controllers": controllers,
    "schedules": schedules,
    "optimizers": optimizers,
    "peers": peers,
    "populations": populations,
    "executors": executors,
}


def run_list(args: argparse.Namespace) -> int:
    entries = LISTS[args.what]()
    width = max((len(name) for name, _ in entries), default=0)
    for name, about in entries:
        print(f"{name:<{width}}  {about}".rstrip())
    return 0
