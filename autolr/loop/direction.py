"""Direction: whether a larger or a smaller metric is better, decided in one place.

A task declares its metric's mode ("max" or "min"); every comparison of metric values
(better, reaching a target, the worst value, the sign that turns a metric into a score to
maximise) goes through a ``Direction`` so that no caller branches on the string itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["max", "min"]


@dataclass(frozen=True)
class Direction:
    """The direction of a metric: ``mode`` is "max" (larger is better) or "min".

    ``sign`` is +1 for "max" and -1 for "min", so ``sign * value`` is always to be maximised;
    ``worst`` is the worst possible value (-inf for "max", +inf for "min").
    """

    mode: Mode

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {self.mode!r}")

    @classmethod
    def of(cls, mode: Direction | str) -> Direction:
        """A Direction from a mode string (as stored in run summaries) or a Direction."""
        return mode if isinstance(mode, Direction) else cls(mode)  # type: ignore[arg-type]

    @property
    def maximize(self) -> bool:
        return self.mode == "max"

    @property
    def sign(self) -> float:
        return 1.0 if self.maximize else -1.0

    @property
    def worst(self) -> float:
        return -math.inf if self.maximize else math.inf

    @property
    def verb(self) -> str:
        """ "maximize" or "minimize" (the words Optuna's studies take)."""
        return "maximize" if self.maximize else "minimize"

    @property
    def adjective(self) -> str:
        """ "higher" or "lower": which values are better, for reports."""
        return "higher" if self.maximize else "lower"

    def better(self, a: Any, b: Any) -> Any:
        """True where ``a`` is strictly better than ``b`` (element-wise on arrays)."""
        return a > b if self.maximize else a < b

    def reached(self, value: Any, target: Any) -> Any:
        """True where ``value`` meets ``target`` (at least as good; element-wise on arrays)."""
        return value >= target if self.maximize else value <= target

    def best_of(self, values: Iterable[float]) -> float:
        """The best of ``values`` (max or min)."""
        return max(values) if self.maximize else min(values)

    def worst_of(self, values: Iterable[float]) -> float:
        """The worst of ``values`` (min or max)."""
        return min(values) if self.maximize else max(values)


MAX = Direction("max")
MIN = Direction("min")
