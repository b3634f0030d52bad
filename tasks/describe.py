"""``describes``: attach ``describe(**params) -> TaskInfo`` to a task factory.

A factory's keyword defaults are the one source of truth for its parameters. ``describe``
fills them in, checks the values (through the task's ``info`` function, which uses
``autolr.checks``) and builds the TaskInfo without touching data or a model.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from autolr.loop.trainee import TaskInfo
from autolr.registry import check_known

F = TypeVar("F", bound=Callable[..., Any])


def integral_ints(signature: inspect.Signature, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with integral floats made ints where the factory's default is an int.

    YAML's ``1e3`` is the float 1000.0, and ``autolr.checks.check_int`` accepts it; the
    factory must then build with 1000, not 1000.0 (``nn.Linear(3.0, ...)`` fails).
    """
    out = dict(params)
    for name, value in params.items():
        param = signature.parameters.get(name)
        default = None if param is None else param.default
        is_int = isinstance(default, int) and not isinstance(default, bool)
        if is_int and isinstance(value, float) and value.is_integer():
            out[name] = int(value)
    return out


def describes(name: str, info: Callable[..., TaskInfo]) -> Callable[[F], F]:
    """Attach ``describe(**params) -> TaskInfo`` to a task factory.

    ``describe`` rejects unknown parameters, fills in the factory's keyword defaults and calls
    ``info(**params)``, which checks every value and returns the TaskInfo. The factory calls
    ``info`` itself with its arguments, so both paths check the same way. Both see integral
    floats as ints (``integral_ints``).
    """

    def attach(factory: F) -> F:
        signature = inspect.signature(factory)
        accepted = [p for p in signature.parameters if p not in ("seed", "device")]

        @functools.wraps(factory)
        def make(*args: Any, **params: Any) -> Any:
            return factory(*args, **integral_ints(signature, params))

        def describe(**params: Any) -> TaskInfo:
            check_known(f"task {name!r}", params, accepted)
            bound = signature.bind(0, **integral_ints(signature, params))
            bound.apply_defaults()
            return info(**{k: v for k, v in bound.arguments.items() if k in accepted})

        describe.__doc__ = f"The TaskInfo of task {name!r} for these parameters."
        make.describe = describe  # type: ignore[attr-defined]
        return make  # type: ignore[return-value]

    return attach
