"""Entry points: how installed packages (ours and third parties') register names.

A package declares ``name = module:attr`` under a group (``autolr.tasks``,
``autolr.controllers``, ``autolr.schedules``, ``autolr.executors``, ``autolr.cli``) in its
``setup.cfg``; a ``Registry`` with that group reads them on first lookup and imports each
one only when its name is used. A failure to import names the entry point, its group and
the cause, and tells when a file in the working directory shadows the package.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REINSTALL = "pip install -e . (in the autolr checkout, or pip install autolr)"


class EntryPointError(ValueError):
    """An entry point that cannot be imported, or a group with no entry points at all."""


@dataclass(frozen=True)
class Declared:
    """One entry point: its name, ``module:attr`` value, group and distribution."""

    name: str
    value: str
    group: str
    dist: str

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    def describe(self) -> str:
        return (
            f"entry point {self.name!r} = {self.value!r} in group {self.group!r} (from {self.dist})"
        )

    def load(self) -> Any:
        """Import the target; EntryPointError naming the entry point, group and cause."""
        ep = importlib.metadata.EntryPoint(self.name, self.value, self.group)
        try:
            return ep.load()
        except Exception as err:
            shadow = shadowing(self.module)
            hint = f"; {shadow}" if shadow else ""
            raise EntryPointError(
                f"cannot load {self.describe()}: {type(err).__name__}: {err}{hint}"
            ) from err


def declared(group: str) -> tuple[dict[str, Declared], dict[str, list[Declared]]]:
    """The entry points of ``group`` by name, and the names declared differently by two
    distributions (to report, not to guess between)."""
    found: dict[str, Declared] = {}
    clashes: dict[str, list[Declared]] = {}
    for ep in _all_entry_points().select(group=group):
        dist = getattr(ep, "dist", None)
        item = Declared(ep.name, ep.value, group, dist.name if dist is not None else "?")
        first = found.setdefault(ep.name, item)
        if first.value != item.value:
            clashes.setdefault(ep.name, [first]).append(item)
    return found, clashes


_scans: dict[tuple[str, ...], importlib.metadata.EntryPoints] = {}


def _all_entry_points() -> importlib.metadata.EntryPoints:
    # One scan of the installed metadata serves every group (each registry reads one);
    # a changed sys.path (a package added at run time) scans again.
    key = tuple(sys.path)
    if key not in _scans:
        _scans.clear()
        _scans[key] = importlib.metadata.entry_points()
    return _scans[key]


def shadowing(module: str) -> str:
    """Why ``module`` cannot be a submodule of its top-level package, when a plain file or a
    foreign folder earlier on ``sys.path`` (often the working directory) takes the
    package's name; '' when nothing shadows it."""
    top, dot, _ = module.partition(".")
    mod = sys.modules.get(top)
    if mod is not None:
        origin = getattr(mod, "__file__", None)
        is_package = hasattr(mod, "__path__")
    else:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return ""
        if spec is None:
            return ""
        origin = spec.origin
        is_package = spec.submodule_search_locations is not None
    if origin is None or (is_package and not dot):
        return ""
    if dot and not is_package:
        where = Path(origin)
        return (
            f"the file {where} shadows the package {top!r}: rename {where.name}, or run from "
            "another directory"
        )
    if dot and is_package and _missing(module):
        return (
            f"the package {top!r} was found at {Path(origin).parent}, which has no {module!r}: "
            "if a folder of yours shadows it, rename it or run from another directory"
        )
    return ""


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def missing_group_hint(group: str) -> str:
    """The advice when a group that autolr itself declares has no entry points: the
    installed metadata predates the group (a checkout pulled without reinstalling)."""
    return (
        f"no entry points are installed for group {group!r}: autolr's package metadata is "
        f"missing or stale; run {REINSTALL}"
    )
