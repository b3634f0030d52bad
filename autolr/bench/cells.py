"""What a suite expands to: its task and method entries, and the cells (one run each).

``Cell.key`` is a hash of the cell's whole run config, so a rerun finds a cell again in the
results store; ``autolr.bench.suite`` makes the cells, ``autolr.bench.execute`` runs them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autolr.controllers.base import CONTROLLERS
from autolr.loop.trainee import TaskInfo


@dataclass(frozen=True)
class TaskEntry:
    label: str
    spec: dict[str, Any]
    run: dict[str, Any]
    info: TaskInfo


@dataclass(frozen=True)
class Method:
    label: str
    track: str  # "baseline" (external tuning), "controller", "peer" or "population"
    spec: dict[str, Any]
    kinds: tuple[str, ...] | None = None
    tuned: bool = True  # a baseline's peak is tuned on the grid; False: the task's default LR
    merge: dict[str, Any] | None = None  # a baseline's run key merge (checkpoint merging)

    def applies(self, task: TaskEntry) -> bool:
        return self.kinds is None or task.info.kind in self.kinds


@dataclass
class Cell:
    """One run. ``key`` is a hash of its full run config, so a rerun finds it again.

    ``salt`` names what the run depends on beyond its config (the content hash of a policy
    file the config names by path), so a changed file makes new cells; empty, it leaves the
    key as it always was.
    """

    suite: str
    task: str
    method: str
    track: str  # "tune", "eval", "target", "default", "self", "peer" or "replay"
    seed: int
    config: dict[str, Any]
    peak_lr: float | None = None
    salt: str = ""
    key: str = field(init=False)

    def __post_init__(self) -> None:
        parts: list[Any] = [self.suite, self.track, self.config]
        blob = json.dumps([*parts, self.salt] if self.salt else parts, sort_keys=True)
        self.key = hashlib.sha256(blob.encode()).hexdigest()[:32]

    @property
    def cpus(self) -> int:
        """The CPUs the run uses: its torch threads (what the ``ray`` executor reserves)."""
        return int(self.config.get("threads", 1))

    def row(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "suite": self.suite,
            "task": self.task,
            "method": self.method,
            "track": self.track,
            "seed": self.seed,
            "peak_lr": self.peak_lr,
            "config": self.config,
        }


def controller_track(name: str) -> str:
    """A controller's cell track: "peer" when its class says ``peer = True``, else "self"."""
    return "peer" if getattr(CONTROLLERS.get(name), "peer", False) is True else "self"


def trace_schedule(lrs: np.ndarray) -> dict[str, Any]:
    """A piecewise spec that reproduces an LR trace exactly (run-length encoded)."""
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.size == 0:
        raise ValueError("cannot replay an empty LR trace")
    change = np.flatnonzero(lrs[1:] != lrs[:-1]) + 1
    return {
        "name": "piecewise",
        "boundaries": [int(b) for b in change],
        "values": [float(lrs[0]), *(float(lrs[b]) for b in change)],
    }
