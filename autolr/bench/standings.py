"""The report's summary, as numbers: per task, the winner, and where each controller stands
against the best tuned baseline, the best untuned default and the best peer.

All of it compares final metrics (test, else validation) over the evaluation seeds:
``Row.mean_ci`` for each method, ``stats.welch_ci`` for a difference. ``autolr.bench.tables``
renders it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from autolr.bench import stats
from autolr.bench.analysis import Row, TaskReport

# what a controller is compared with: (its name, the track the best of which it is)
REFERENCES = (("tuned", "eval"), ("default", "default"), ("peer", "peer"))


def _score(rep: TaskReport, row: Row) -> float:
    """``sign · mean`` (higher is better whatever the direction); -inf without a mean."""
    mean = row.mean_ci[0]
    return rep.direction.sign * mean if math.isfinite(mean) else -math.inf


def best_of(rep: TaskReport, track: str) -> Row | None:
    """The finished row of ``track`` with the best mean final (ties: the first label)."""
    rows = [r for r in rep.rows.values() if r.track == track and r.n_finite]
    return max(sorted(rows, key=lambda r: r.method), key=lambda r: _score(rep, r), default=None)


def best_tuned(rep: TaskReport) -> Row | None:
    """The best tuned baseline: the one the target came from (chosen on the tuning seeds, so
    the evaluation seeds do not pick it); without a target, the best evaluation mean."""
    row = rep.rows.get(rep.best_baseline or "")
    return row if row is not None and row.n_finite else best_of(rep, "eval")


@dataclass(frozen=True)
class Comparison:
    """A controller against a reference: ``diff`` = controller mean − reference mean (in the
    metric's units), ``ci`` its 95% half-width (Welch); ``verdict`` "better", "worse" or
    "tied" (the interval holds 0), in the metric's direction, or "no CI" (one seed)."""

    reference: str  # what kind of reference: a name of REFERENCES
    method: str  # the reference's label
    diff: float
    ci: float
    verdict: str


@dataclass
class TaskSummary:
    """One task: its ``ranked`` methods (best mean final first; replays left out), whether
    the winner is ``tied`` with the runner-up (their CIs overlap; None: a CI is missing),
    and per controller its comparisons with each reference that ran."""

    rep: TaskReport
    ranked: list[Row] = field(default_factory=list)
    tied: bool | None = None
    standings: dict[str, list[Comparison]] = field(default_factory=dict)

    @property
    def winner(self) -> Row | None:
        return self.ranked[0] if self.ranked else None

    @property
    def runner_up(self) -> Row | None:
        return self.ranked[1] if len(self.ranked) > 1 else None


def verdict(diff: float, ci: float, sign: float) -> str:
    """ "better" when the whole interval ``sign · (diff ± ci)`` is above 0, "worse" when it
    is below, "tied" when it holds 0; "no CI" when ``ci`` is NaN."""
    if math.isnan(ci) or math.isnan(diff):
        return "no CI"
    lo, hi = sorted((sign * (diff - ci), sign * (diff + ci)))
    return "better" if lo > 0 else "worse" if hi < 0 else "tied"


def overlap(a: Row, b: Row) -> bool | None:
    """Whether the 95% CIs of two rows' means overlap (None: either has no CI)."""
    (ma, ha), (mb, hb) = a.mean_ci, b.mean_ci
    if math.isnan(ha) or math.isnan(hb):
        return None
    return abs(ma - mb) <= ha + hb


def compare(rep: TaskReport, row: Row, ref: Row, reference: str) -> Comparison:
    diff, ci = stats.welch_ci(row.finals, ref.finals)
    return Comparison(reference, ref.method, diff, ci, verdict(diff, ci, rep.direction.sign))


def summarise(rep: TaskReport) -> TaskSummary:
    """The summary of one task (see ``TaskSummary``)."""
    ranked = [r for r in rep.rows.values() if r.track != "replay" and r.n_finite]
    ranked.sort(key=lambda r: (-_score(rep, r), r.method))
    out = TaskSummary(rep, ranked)
    if out.winner is not None and out.runner_up is not None:
        out.tied = overlap(out.winner, out.runner_up)
    refs = [
        (name, best_tuned(rep) if track == "eval" else best_of(rep, track))
        for name, track in REFERENCES
    ]
    for row in sorted(rep.rows.values(), key=lambda r: r.method):
        if row.track == "self":
            out.standings[row.method] = [
                compare(rep, row, ref, name) for name, ref in refs if ref is not None
            ]
    return out
