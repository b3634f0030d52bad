"""Where the agents' training commands may write.

Two rules, checked before any training starts, so that a refused run costs nothing and
writes nothing:

* never into an installed package (``agents/policies/`` holds the shipped policy) unless the
  caller named that path explicitly (``--out``, or ``out=`` in the API): a config's ``out``
  or a default is not enough. A plain ``autolr agents meta-train`` from the repository root
  used to overwrite the shipped ``meta_default.json`` with no warning;
* never over an existing file unless ``overwrite`` (``--overwrite``) says so.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

PACKAGES = ("agents", "autolr", "search", "tasks")


class OutputRefused(ValueError):
    """An output path the command will not write to (the CLI exits 2 with the message)."""


def package_dirs() -> list[Path]:
    """The directories the project's packages are imported from."""
    dirs = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs += [Path(p).resolve() for p in spec.submodule_search_locations]
    return dirs


def inside_package(path: Path) -> Path | None:
    """The package directory that holds ``path``, or None."""
    target = path.resolve()
    return next((d for d in package_dirs() if target.is_relative_to(d)), None)


def check_outputs(
    path: Path, suffixes: Sequence[str], *, overwrite: bool, explicit: bool
) -> list[Path]:
    """The files a run will write (``path`` and its siblings with ``suffixes``), after
    the checks in the module docstring; raises OutputRefused naming the flag to pass."""
    package = inside_package(path)
    if package is not None and not explicit:
        raise OutputRefused(
            f"out {str(path)!r} is inside the installed package {str(package)!r}; "
            "pass that path as --out to write there on purpose (see docs/agents.md)"
        )
    paths = [path, *(path.with_suffix(s) for s in suffixes)]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        shown = ", ".join(str(p) for p in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        raise OutputRefused(f"{shown} {verb}; pass --overwrite to replace")
    return paths
