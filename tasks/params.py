"""Task parameters: argument checks and the ``describe`` attached to every task factory.

A factory's keyword defaults are the one source of truth for its parameters. ``@describes``
attaches ``factory.describe(**params) -> TaskInfo``, which fills in those defaults, checks
the values and builds the TaskInfo without touching data or a model.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from autolr.loop.trainee import TaskInfo
from autolr.registry import check_known, did_you_mean

F = TypeVar("F", bound=Callable[..., Any])


def _bad(name: str, value: Any, what: str) -> ValueError:
    return ValueError(f"{name} must be {what}, got {value!r}")


def integer(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int, if it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _bad(name, value, f"an integer >= {minimum}")
    if value < minimum:
        raise _bad(name, value, f">= {minimum}")
    return int(value)


def positive(name: str, value: Any) -> float:
    """``value`` as a float, if it is finite and ``> 0``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _bad(name, value, "a positive number")
    if not math.isfinite(value) or value <= 0:
        raise _bad(name, value, "finite and > 0")
    return float(value)


def non_negative(name: str, value: Any) -> float:
    """``value`` as a float, if it is finite and ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _bad(name, value, "a number >= 0")
    if not math.isfinite(value) or value < 0:
        raise _bad(name, value, "finite and >= 0")
    return float(value)


def finite(name: str, value: Any) -> float:
    """``value`` as a float, if it is finite."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _bad(name, value, "a number")
    if not math.isfinite(value):
        raise _bad(name, value, "finite")
    return float(value)


def one_of(name: str, value: Any, choices: Collection[str]) -> str:
    """``value``, if it is one of ``choices``."""
    if value not in choices:
        hint = did_you_mean(value, list(choices)) if isinstance(value, str) else ""
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}{hint}")
    return str(value)


def path_like(name: str, value: Any) -> Path:
    """``value`` as a Path (not checked for existence: ``describe`` reads nothing)."""
    if value is None:
        raise ValueError(f"{name} is required: give the data's location")
    if not isinstance(value, str | Path) or not str(value):
        raise _bad(name, value, "a file-system path")
    return Path(value).expanduser()


def seed(value: Any) -> int:
    """A run seed: an integer >= 0 (numpy's ``default_rng`` takes no negative seeds)."""
    return integer("seed", value, minimum=0)


def describes(name: str, info: Callable[..., TaskInfo]) -> Callable[[F], F]:
    """Attach ``describe(**params) -> TaskInfo`` to a task factory.

    ``describe`` rejects unknown parameters, fills in the factory's keyword defaults and calls
    ``info(**params)``, which checks every value and returns the TaskInfo. The factory calls
    ``info`` itself with its arguments, so both paths check the same way.
    """

    def attach(factory: F) -> F:
        signature = inspect.signature(factory)
        accepted = [p for p in signature.parameters if p not in ("seed", "device")]

        def describe(**params: Any) -> TaskInfo:
            check_known(f"task {name!r}", params, accepted)
            bound = signature.bind(0, **params)
            bound.apply_defaults()
            return info(**{k: v for k, v in bound.arguments.items() if k in accepted})

        describe.__doc__ = f"The TaskInfo of task {name!r} for these parameters."
        factory.describe = describe  # type: ignore[attr-defined]
        return factory

    return attach
