"""Argument checks: one set of rules for every parameter and config value in the project.

Each check takes the field's name and its value, and returns the value normalised (a float,
an int, a str, a Path) or raises a ``CheckError`` whose message names both::

    lr must be > 0, got -1.0
    width must be an integer >= 1, got 3.5

The rules:

- bools are never numbers (``True`` is not 1);
- a number is an int, a float or a numpy number, and must be finite;
- an integer also accepts an integral float (``3.0`` -> 3: YAML's ``1e3`` is 1000.0) and
  rejects any other float (``3.5``);
- strings are never numbers here: YAML text is parsed by ``autolr.yamlio``, which reads
  ``3e-4`` as a float, so a string that reaches a check is a mistake to report.

``Int``, ``Number``, ``Positive``, ... are the same checks as pydantic field types, so config
models follow the same rules (``autolr.running.config.parse_model`` words their errors).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import PlainValidator, ValidationInfo

from autolr.registry import did_you_mean


class CheckError(ValueError):
    """``{name} must be {requirement}, got {value!r}``; the parts stay readable apart, so a
    config parser can put the key path in place of the name."""

    def __init__(self, name: str, value: Any, requirement: str, hint: str = "") -> None:
        self.name = name
        self.value = value
        self.requirement = requirement
        self.hint = hint
        self.choices: tuple[Any, ...] = ()  # the allowed values, where a choice was refused
        super().__init__(self.message(name))

    def message(self, name: str) -> str:
        return f"{name} must be {self.requirement}, got {self.value!r}{self.hint}"


def bad(name: str, value: Any, requirement: str) -> CheckError:
    """The error for ``value`` of ``name`` not meeting ``requirement`` (raise it)."""
    return CheckError(name, value, requirement)


def _is_number(value: Any) -> bool:
    # numpy's bool_ is not an np.number, and Python's bool must be excluded by hand.
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def check_number(name: str, value: Any, requirement: str = "") -> float:
    """``value`` as a finite float. ``requirement`` (e.g. ``"> 0"``) words the non-finite
    error as ``finite and > 0``."""
    if not _is_number(value):
        raise bad(name, value, "a number")
    value = float(value)
    if not math.isfinite(value):
        raise bad(name, value, f"finite and {requirement}" if requirement else "finite")
    return value


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float ``> 0``."""
    value = check_number(name, value, "> 0")
    if value <= 0:
        raise bad(name, value, "> 0")
    return value


def check_nonnegative(name: str, value: Any) -> float:
    """``value`` as a float ``>= 0``."""
    value = check_number(name, value, ">= 0")
    if value < 0:
        raise bad(name, value, ">= 0")
    return value


def check_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float in ``[low, high]`` (``low_open``/``high_open``: ``(`` / ``)``)."""
    interval = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    value = check_number(name, value, interval)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise bad(name, value, interval)
    return value


def check_int(name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as an int ``>= minimum``; an integral float counts (``3.0`` -> 3)."""
    requirement = f"an integer >= {minimum}"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise bad(name, value, requirement)
    value = int(value)
    if value < minimum:
        raise bad(name, value, requirement)
    return value


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value``, if it is one of ``choices`` (a did-you-mean for a near miss)."""
    if isinstance(value, list | dict) or value not in choices:
        words = [str(c) for c in choices]
        hint = did_you_mean(value, words) if isinstance(value, str) else ""
        err = CheckError(name, value, f"one of {', '.join(words)}", hint)
        err.choices = tuple(choices)  # for a caller that lists them (``autolr list``)
        raise err
    return value


def check_path(name: str, value: Any) -> Path:
    """``value`` as a Path (its existence is the reader's business, not the check's)."""
    if value is None:
        raise ValueError(f"{name} is required: give the data's location")
    if not isinstance(value, str | Path) or not str(value):
        raise bad(name, value, "a file-system path")
    return Path(value).expanduser()


# ---- the same checks as pydantic field types --------------------------------------------
# ``Int(1) | None`` stays nullable: pydantic lets None through before the check runs.


def _field(python_type: type, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    def validate(value: Any, info: ValidationInfo) -> Any:
        return check(info.field_name or "value", value, *args, **kwargs)

    return Annotated[python_type, PlainValidator(validate)]


def Int(minimum: int = 0) -> Any:
    """An int field ``>= minimum``, by ``check_int``."""
    return _field(int, check_int, minimum)


def Number() -> Any:
    """A finite float field, by ``check_number``."""
    return _field(float, check_number)


def Positive() -> Any:
    """A float field ``> 0``, by ``check_positive``."""
    return _field(float, check_positive)


def NonNegative() -> Any:
    """A float field ``>= 0``, by ``check_nonnegative``."""
    return _field(float, check_nonnegative)


def Range(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Any:
    """A float field in ``[low, high]`` (or open ends), by ``check_range``."""
    return _field(float, check_range, low, high, low_open=low_open, high_open=high_open)


def Choice(*choices: str) -> Any:
    """A str field that is one of ``choices``, by ``check_choice``."""
    return _field(str, check_choice, choices)
