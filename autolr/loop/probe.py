"""Probes: train from a snapshot with a trial segment, record the losses, restore. Charged."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autolr.loop import snapshot as snapshots
from autolr.loop.segment import Segment

if TYPE_CHECKING:
    from autolr.loop.session import Session

PROBE_KINDS = ("probe", "range_test")


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

    Every step is charged to the session's ledger (as ``probe`` or ``range_test``), and the
    model, optimizer, RNG states and data cursor are restored afterwards.
    """

    def __init__(self, session: Session) -> None:
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
        """Train ``steps`` steps of ``segment`` (or a constant LR) from here, then undo them."""
        if kind not in PROBE_KINDS:
            raise ValueError(f"kind must be one of {PROBE_KINDS}, got {kind!r}")
        if not isinstance(segment, Segment):
            segment = Segment.constant(float(segment), steps or 1)
        n = min(segment.steps if steps is None else steps, self.remaining)
        if n <= 0:
            return ProbeResult(np.zeros(0), 0, False)
        s = self._session
        start = time.perf_counter()
        snap = s.snapshot()
        lrs, moms, mults = s.plan(segment, n)
        out = s.train(lrs, mults, moms, record=False)
        val_loss = val_metric = None
        if validate and not out.diverged:
            val_loss, val_metric = (float(v) for v in s.trainee.evaluate())
        snapshots.restore(s.trainee, snap)
        s.ledger.charge(kind, out.steps_run)
        s.wall_time += time.perf_counter() - start
        return ProbeResult(
            out.losses[: out.steps_run], out.steps_run, out.diverged, val_loss, val_metric
        )
