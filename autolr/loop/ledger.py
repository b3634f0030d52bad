"""The Ledger: every optimizer step on training data is charged to the budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("kept", "probe", "range_test", "lost")


@dataclass
class Ledger:
    """Counts of optimizer steps by what they were spent on, and the run's wall time.

    kept:       steps that stay in the model;
    probe:      steps run by probes from a snapshot and then undone;
    range_test: steps of the LR range test;
    lost:       steps undone by a rollback after divergence (``rollbacks`` counts those).

    ``charged`` is their sum, and the budget is over all of them: lookahead is never free.
    ``seconds`` is the wall time charged to the run: training, probes, evaluations and the
    controller's own compute. ``sharpness_seconds`` is the part of ``seconds`` spent
    measuring sharpness (the guard's and ``sharpness: true``'s Hessian-vector products):
    wall time, not optimizer steps. The ledger is the one place these counters live.
    """

    budget: int
    kept: int = 0
    probe: int = 0
    range_test: int = 0
    lost: int = 0
    rollbacks: int = 0
    seconds: float = 0.0
    sharpness_seconds: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ValueError(f"budget_steps must be an integer >= 1, got {self.budget!r}")

    @property
    def charged(self) -> int:
        return self.kept + self.probe + self.range_test + self.lost

    @property
    def probes(self) -> int:
        """Steps spent looking ahead: probes and range tests."""
        return self.probe + self.range_test

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.charged)

    def charge(self, kind: str, steps: int, seconds: float = 0.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"ledger kind must be one of {KINDS}, got {kind!r}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        setattr(self, kind, getattr(self, kind) + steps)
        self.seconds += seconds

    def roll_back(self, steps: int, seconds: float = 0.0) -> None:
        """Charge ``steps`` undone by one rollback."""
        self.charge("lost", steps, seconds)
        self.rollbacks += 1

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, float(value) if key.endswith("seconds") else int(value))
