"""External tuning: a run's final metric as a score, and the peak LR a grid search picks."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from autolr.loop.direction import Direction

Objective = Callable[[Mapping[str, Any]], float]


def final_metric(summary: Mapping[str, Any], mode: Direction | str) -> float:
    """A run's final validation metric; a run without one ranks worst."""
    value = summary.get("final_val_metric")
    if value is None or not math.isfinite(value):
        return Direction.of(mode).worst
    return float(value)


def signed_final_metric(cell: Mapping[str, Any]) -> float:
    """A cell's final metric times its direction's sign: larger is better in either mode."""
    summary = cell["summary"]
    direction = Direction.of(summary["mode"])
    return direction.sign * final_metric(summary, direction)


def choose_peaks(
    cells: list[dict[str, Any]], objective: Objective = signed_final_metric
) -> dict[tuple[str, str], float]:
    """The tuned peak LR per (task, method) of the ``tune`` cells: the peak with the best mean
    ``objective`` (larger is better) over the tuning seeds; on a tie, the smallest peak."""
    scores: dict[tuple[str, str], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in cells:
        if c["track"] == "tune":
            scores[(c["task"], c["method"])][c["peak_lr"]].append(objective(c))
    return {
        key: max(by_peak, key=lambda p: (sum(by_peak[p]) / len(by_peak[p]), -p))
        for key, by_peak in scores.items()
    }
