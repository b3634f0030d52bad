"""Probes: snapshot, train a trial, charge it, restore. The range test is a kind of probe."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from autolr.loop import ddp
from autolr.loop import snapshot as snapshots
from autolr.loop.segment import Segment
from autolr.loop.stepper import Outcome, Plan, StopRule

if TYPE_CHECKING:
    from autolr.loop.ledger import Ledger
    from autolr.loop.trainee import Trainee

PROBE_KINDS = ("probe", "range_test")


class Trainable(Protocol):
    """What a probe needs from a session: the narrow interface Probe goes through."""

    trainee: Trainee
    ledger: Ledger

    @property
    def lr_scale(self) -> tuple[float, ...]: ...

    def plan(self, segment: Segment, n: int) -> Plan: ...

    def snapshot(self) -> snapshots.Snapshot: ...

    def divergence(self) -> StopRule: ...

    def trial(self, plan: Plan, stop: StopRule) -> Outcome: ...


@dataclass(frozen=True)
class ProbeResult:
    """The losses of one probe (``steps`` long; shorter if it diverged or hit the budget)."""

    losses: np.ndarray
    steps: int
    diverged: bool
    val_loss: float | None = None
    val_metric: float | None = None

    @property
    def final_loss(self) -> float:
        """Mean of the last quarter of the losses; +inf if diverged or empty."""
        if self.diverged or self.steps == 0:
            return math.inf
        tail = self.losses[-max(1, self.steps // 4) :]
        return float(tail.mean())


class Probe:
    """Trial training from the session's current point, on the batches the run would see.

    Every step is charged to the session's ledger (as ``probe`` or ``range_test``), with its
    wall time, and the model, optimizer, RNG states and data cursor are restored afterwards.
    """

    def __init__(self, session: Trainable) -> None:
        self._session = session

    @property
    def remaining(self) -> int:
        """Steps left in the budget; a probe is cut to this."""
        return self._session.ledger.remaining

    def run(
        self,
        segment: Segment | float,
        steps: int | None = None,
        *,
        validate: bool = False,
        kind: str = "probe",
    ) -> ProbeResult:
        """Train ``steps`` steps of ``segment`` (or a constant LR) from here, then undo them.

        The trial stops where the session's divergence rule says so (a non-finite loss or a
        spike), within the session's LR bounds."""
        if not isinstance(segment, Segment):
            segment = Segment.constant(float(segment), steps or 1)
        n = min(segment.steps if steps is None else steps, self.remaining)
        if n <= 0:
            check_kind(kind)
            return ProbeResult(np.zeros(0), 0, False)
        s = self._session
        return self.trial(s.plan(segment, n), s.divergence(), kind=kind, validate=validate)

    def sweep(self, lrs: np.ndarray, stop: StopRule, *, kind: str = "range_test") -> Outcome:
        """Train at exactly ``lrs`` (cut to the budget; no LR bounds) until ``stop`` says so,
        then undo it: the range test's probe."""
        n = min(int(lrs.size), self.remaining)
        plan = Plan(np.asarray(lrs[:n], dtype=np.float64), None, self._session.lr_scale)
        return self._charged(plan, stop, kind, validate=False)[0]

    def trial(
        self, plan: Plan, stop: StopRule, *, kind: str = "probe", validate: bool = False
    ) -> ProbeResult:
        """Snapshot, train ``plan`` until ``stop``, evaluate if asked, charge, restore."""
        out, val = self._charged(plan, stop, kind, validate)
        return ProbeResult(out.ran, out.steps_run, out.stopped, *val)

    def _charged(
        self, plan: Plan, stop: StopRule, kind: str, validate: bool
    ) -> tuple[Outcome, tuple[float | None, float | None]]:
        check_kind(kind)
        s = self._session
        start = time.perf_counter()
        plan = ddp.agree(plan)  # under DDP every rank probes rank 0's LRs, in lockstep
        snap = s.snapshot()
        out: Outcome | None = None
        val: tuple[float | None, float | None] = (None, None)
        try:
            out = s.trial(plan, stop)  # its losses: the ranks' means (Session._train)
            if validate and not out.stopped:
                val = ddp.evaluate(s.trainee)
        finally:
            snapshots.restore(s.trainee, snap)
            steps = 0 if out is None else out.steps_run
            s.ledger.charge(kind, steps, time.perf_counter() - start)
        return out, val


def check_kind(kind: str) -> None:
    if kind not in PROBE_KINDS:
        raise ValueError(f"kind must be one of {PROBE_KINDS}, got {kind!r}")
