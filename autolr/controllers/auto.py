"""`auto`: the controller to pick when you do not know which to pick.

It separates the peak LR from the shape (``docs/auto.md``). The shape is a linear warmup, a
stable phase at the peak, and a linear decay to zero over the budget that is left (Bergsma
et al. 2025, "Straight to Zero"; Hägele et al. 2024). The decay starts when the run's train
loss stops falling at the peak, between ``decay_min`` and ``decay_max`` of the budget:
``plateau`` below. The peak is searched on the run by probes, every probe step charged to the
budget:

1. **coarse**, at step 0: a bracket search. ``candidates`` peaks on a geometric grid
   ``spread`` apart around the initial LR (by default three: x1/4, x1, x4). Each candidate is
   a short run of its own from the initial point: a linear warmup to the candidate, a hold
   and a linear cooldown to zero, each a third of ``coarse_frac`` of the budget. While the
   best is at the edge of the grid, the grid grows that way by one candidate (at most
   ``extend`` more: by default out to x256 or x1/256, so an initial LR off by 10x in either
   direction is well inside). The best is refined to the vertex of the parabola in log LR
   through it and its neighbours, and the run's peak is that divided by ``shrink`` (2): on
   the tuning seed, short probes ranked after a cooldown favour peaks 1-4x the tuned one
   (docs/auto.md). Until 2026-12-03 the grid started with five candidates (x1/16 .. x16)
   and grew by at most two; replayed on 329 coarse rounds of the tuning seeds, the bracket
   ends on the same peak every time with 1.1 fewer probes (docs/auto.md, "The bracket").
2. **fine** (off by default: ``fine_frac: 0``), where the decay starts, from the run's own
   point: the peak so far and the peaks ``fine_ratio`` above and below it, each held for two
   thirds of ``fine_frac`` of the budget and then cooled down linearly to zero over the last
   third.

The decay's start: at ``fine_at`` of the budget when it is set (0.1 was the only shape before
2026-12-03). Unset (the default), the decay starts at the first segment boundary past
``decay_min`` of the budget where the mean train loss of the last ``plateau_window`` of the
budget is not below that of the window before by ``plateau_z`` standard errors (the loss has
stopped falling at the peak: holding it no longer pays, a longer decay does), and at
``decay_max`` at the latest. On the tuning seeds (docs/auto.md) the noisy quadratics
plateau by 15-20% of the budget and gain most from an early, long decay; the networks keep
falling and gain from holding the peak longer.

Candidates are ranked by the mean train loss of the last third of their cooldown (a probe
that ended above ``blowup`` times its first loss counts as diverged), never by
the raw loss after a probe: every candidate is compared after an equal cooldown, which
removes most of the short-horizon bias (a lower LR's immediate drop; Wu et al. 2018). Losses
of the same batches: in a Session, a probe trains on the batches the run would see. In a
user's own loop (``autolr.attach(..., budget_steps=N, train_step=fn)``) probes call the
user's closure and so spend the user's next batches: each candidate sees its own.

Diagnostic (``controller_stats``): ``rank_rho``, Spearman's rho between the coarse round's
ranking (its scores interpolated in log LR at the fine candidates) and the fine round's, the
short horizon against the longer one; ``probe_fraction``, the share of the budget spent on
probes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from autolr.checks import check_int, check_range
from autolr.controllers.base import CONTROLLERS, Controller
from autolr.loop.collapse import check_undo
from autolr.loop.probe import Probe, ProbeResult
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState
from autolr.schedules import piecewise_linear, shift
from autolr.schedules.base import Schedule

# the fewest steps of a coarse probe (a third each of warmup, hold and cooldown)
MIN_PROBE = 6
# the fewest steps of one plateau window
MIN_WINDOW = 5
# rollbacks that halve the peak; after them the collapse guard is off (early in training the
# progress it protects is small, and minibatch noise alone can trip it again and again)
MAX_HALVINGS = 3
# an edge best within this fraction of its neighbour's score is not trusted (``edge_wary``):
# chosen on the 330 tuning rounds of benchmarks/auto_peak.py, where it is never worse than
# trusting the edge and better on three tasks (docs/auto.md, "Open items"), and evaluated
# on fresh seeds 9-11 (docs/auto.md, "`edge_tol` evaluated on fresh seeds")
EDGE_TOL = 0.005
# a coarse probe that ends above this many times its first loss has blown up: it counts as
# diverged (``score``). Chosen on the tuning seeds 1000-1009 (docs/auto.md, "The blown-up
# neighbour"): on nqm at the initial LR x0.1 the final loss falls 4x, on digits-cnn at x10
# three of ten seeds lose 1-2% accuracy
BLOWUP = 2.0
_STATE_KEYS = (
    "phase",
    "peak",
    "coarse",
    "fine",
    "plan",
    "rollbacks",
    "probe_steps",
    "recent",
    "decay_start",
)


def score(res: ProbeResult, cooldown: int, blowup: float | None = None) -> float:
    """The mean train loss of the last third of a probe's cooldown; +inf for a probe that
    diverged, ran short of its length or has a non-finite loss there, and, with ``blowup``
    set, for one that ended above ``blowup`` times the loss of its first step (where a
    coarse probe's LR is 0, so every candidate's first loss is the same): it blew up
    without tripping the divergence rule."""
    if res.diverged or res.steps == 0:
        return math.inf
    tail = res.losses[-max(1, cooldown // 3) :]
    value = float(tail.mean()) if tail.size else math.inf
    if not math.isfinite(value):
        return math.inf
    first = float(res.losses[0])
    if blowup is not None and math.isfinite(first) and first > 0 and value > blowup * first:
        return math.inf
    return value


def rank_rho(first: list[float], second: list[float]) -> float | None:
    """Spearman's rho of two rankings of the same candidates, ties averaged (None: fewer than
    3 finite pairs or a constant side)."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return None
    return float(spearmanr(a[keep], b[keep]).statistic)


def plateaued(losses: np.ndarray, window: int, z: float) -> bool | None:
    """Whether the mean of the last ``window`` losses is not below the mean of the
    ``window`` before by ``z`` standard errors (Welch's). None: fewer than ``2 * window``
    losses, or a non-finite one."""
    if window < 1 or losses.size < 2 * window:
        return None
    a, b = losses[-2 * window : -window], losses[-window:]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    drop = float(a.mean() - b.mean())
    se = math.sqrt((float(a.var()) + float(b.var())) / window)
    return drop <= z * se


def vertex(lrs: list[float], scores: list[float]) -> float:
    """The best LR of a grid, refined between its neighbours: the vertex of the parabola in
    log LR through the best point and its two neighbours, kept within half a grid step of the
    best. The best itself at the grid's edge, next to a diverged point, or where the three
    points are not convex; NaN when every score is infinite."""
    i = int(np.argmin(scores))
    if not math.isfinite(scores[i]):
        return math.nan
    if i == 0 or i == len(lrs) - 1 or not all(map(math.isfinite, scores[i - 1 : i + 2])):
        return float(lrs[i])
    x = np.log(np.asarray(lrs[i - 1 : i + 2], dtype=np.float64))
    a, b, _ = np.polyfit(x, np.asarray(scores[i - 1 : i + 2], dtype=np.float64), 2)
    if a <= 0:
        return float(lrs[i])
    half = min(x[1] - x[0], x[2] - x[1]) / 2.0
    return float(math.exp(np.clip(-b / (2.0 * a), x[1] - half, x[1] + half)))


def edge_wary(lrs: list[float], scores: list[float], tol: float | None) -> float:
    """``vertex``, except that with ``tol`` set a best candidate at the grid's edge whose
    score is within ``tol`` (relative) of its neighbour's is not trusted: the neighbour is
    returned. On a flat top a 1%-probe at the edge of the grid's reach can win by a
    fraction of a percent (stdlib-lm at x0.1: docs/auto.md, "Open items")."""
    i = int(np.argmin(scores))
    j = 1 if i == 0 else len(scores) - 2 if i == len(scores) - 1 else None
    if (
        tol is None
        or j is None
        or len(scores) < 3
        or not math.isfinite(scores[i])
        or not math.isfinite(scores[j])
        or scores[j] > scores[i] + tol * abs(scores[i])
    ):
        return vertex(lrs, scores)
    return float(lrs[j])


@CONTROLLERS.register("auto")
class Auto(Controller):
    """Peak by charged, cooldown-ranked probes; shape warmup-stable-linear-decay-to-zero.

    Args:
        lr: the initial LR, the centre of the coarse grid (the task's lr when unset).
        budget_steps: the run's budget (set by ``build_controller``).
        candidates: the coarse grid's size before it grows (odd, >= 3; 5 with ``extend: 2``
            is the grid of the versions before 2026-12-03).
        spread: the ratio of neighbouring coarse candidates (> 1).
        extend: how many more candidates the coarse grid may grow by past its edge.
        coarse_frac: one coarse probe's length, as a fraction of the budget.
        fine_at: the budget fraction at which the decay starts (and the fine round runs),
            0 < fine_at < 1; None (the default): the decay starts online, by ``plateau``.
            ``fine_at: 0.1`` is the shape of the version evaluated on 2026-12-01.
        decay_min, decay_max: with ``fine_at`` unset, the earliest and the latest budget
            fraction at which the decay starts (0 < decay_min <= decay_max < 1).
        plateau_window: the plateau test's window, as a fraction of the budget.
        plateau_z: the plateau test's threshold, in standard errors of the windows' means.
        fine_frac: one fine probe's length, as a fraction of the budget (default 0: no fine
            round; measured on the tuning seeds, it ranks no better than the coarse round and
            costs three more probes).
        fine_ratio: the fine round's candidates are peak / fine_ratio, peak, peak * fine_ratio.
        warmup_frac: the run's linear warmup to the coarse round's peak, as a fraction of the
            budget.
        shrink: the run's peak is the coarse round's best divided by this (>= 1).
        edge_tol: a best at the coarse grid's edge whose score is within this fraction of
            its neighbour's is not trusted, and the neighbour is taken (``edge_wary``;
            >= 0, default 0.005, chosen on the tuning rounds, docs/auto.md). None: the
            best is trusted wherever it is (the version evaluated on seeds 6-8).
        min_lr, max_lr: bounds on every candidate (the session's LR bounds when run by
            ``autolr run``; the session clips to them in any case).
        undo: the collapse guard on the run's segments (``autolr.loop.collapse``): a segment
            that gives back more than this fraction of the progress is rolled back (charged)
            and the peak halved. After ``MAX_HALVINGS`` (3) rollbacks the guard is off and the
            peak stays. None: no guard.
        catch_divergence: a divergence of the run (a non-finite loss, or the smoothed loss
            above the session's blow-up limit) is rolled back (charged) and the peak halved,
            as the guard does, rather than ending the run; off after ``MAX_HALVINGS``
            rollbacks, as the guard is. On by default since 2026-12-03: built after
            three late blow-ups on digits-cnn (seeds 9-11 and the variants' 15-19), chosen
            on the tuning seeds 1000-1009 (one blow-up in 30 caught, the other 29 runs the
            same) and evaluated on fresh seeds 12-14 (docs/auto.md). False: a divergence
            ends the run (the version evaluated on seeds 9-11).
        blowup: a probe whose score is above this many times the loss of its first step
            (>= 1; default 2) counts as diverged (``score``): it is never the best, and the
            vertex is not fitted through it. A probe that blew up far above the cliff (50-450x
            on nqm at the initial LR x0.1) otherwise drags the vertex half a grid step down.
            Chosen on the tuning seeds 1000-1009 (docs/auto.md, "The blown-up neighbour").
            None: only the divergence rule and a non-finite loss count (the version
            evaluated on seeds 12-14).
    """

    name = "auto"
    needs_probe = True
    reads_step_stats = False
    takes_lr_bounds = True

    def __init__(
        self,
        lr: float | None = None,
        budget_steps: int | None = None,
        candidates: int = 3,
        spread: float = 4.0,
        extend: int = 3,
        coarse_frac: float = 0.01,
        fine_at: float | None = None,
        decay_min: float = 0.15,
        decay_max: float = 0.5,
        plateau_window: float = 0.05,
        plateau_z: float = 2.0,
        fine_frac: float = 0.0,
        fine_ratio: float = 2.0,
        warmup_frac: float = 0.02,
        shrink: float = 2.0,
        edge_tol: float | None = EDGE_TOL,
        min_lr: float | None = None,
        max_lr: float | None = None,
        undo: float | None = 0.5,
        catch_divergence: bool = True,
        blowup: float | None = BLOWUP,
    ) -> None:
        self.lr = None if lr is None else check_range("lr", lr, 0.0, math.inf, low_open=True)
        self.budget = None if budget_steps is None else check_int("budget_steps", budget_steps, 1)
        self.candidates = check_int("candidates", candidates, 3)
        if self.candidates % 2 == 0:
            raise ValueError(f"candidates must be odd (a grid centred on lr), got {candidates}")
        self.spread = check_range("spread", spread, 1.0, math.inf, low_open=True)
        self.extend = check_int("extend", extend, 0)
        self.coarse_frac = check_range("coarse_frac", coarse_frac, 0.0, 0.2, low_open=True)
        self.fine_at = (
            None
            if fine_at is None
            else check_range("fine_at", fine_at, 0.0, 1.0, low_open=True, high_open=True)
        )
        self.decay_min = check_range(
            "decay_min", decay_min, 0.0, 1.0, low_open=True, high_open=True
        )
        self.decay_max = check_range(
            "decay_max", decay_max, 0.0, 1.0, low_open=True, high_open=True
        )
        if self.decay_min > self.decay_max:
            raise ValueError(
                f"decay_min ({self.decay_min}) must be <= decay_max ({self.decay_max})"
            )
        self.plateau_window = check_range(
            "plateau_window", plateau_window, 0.0, 0.25, low_open=True
        )
        self.plateau_z = check_range("plateau_z", plateau_z, -math.inf, math.inf)
        self.fine_frac = check_range("fine_frac", fine_frac, 0.0, 0.2)
        self.fine_ratio = check_range("fine_ratio", fine_ratio, 1.0, math.inf, low_open=True)
        self.warmup_frac = check_range("warmup_frac", warmup_frac, 0.0, 0.5)
        self.shrink = check_range("shrink", shrink, 1.0, math.inf)
        self.edge_tol = (
            None if edge_tol is None else check_range("edge_tol", edge_tol, 0.0, math.inf)
        )
        self.min_lr = 0.0 if min_lr is None else check_range("min_lr", min_lr, 0.0, math.inf)
        self.max_lr = (
            math.inf
            if max_lr is None
            else check_range("max_lr", max_lr, 0.0, math.inf, low_open=True)
        )
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr ({self.min_lr}) must be <= max_lr ({self.max_lr})")
        self.undo = check_undo(undo)
        if not isinstance(catch_divergence, bool):
            raise ValueError(f"catch_divergence must be true or false, got {catch_divergence!r}")
        self.catch_divergence = catch_divergence
        self.blowup = None if blowup is None else check_range("blowup", blowup, 1.0, math.inf)
        self.phase = "coarse"  # coarse -> stable -> decay
        self.peak = math.nan
        self.coarse: dict[str, list[float]] = {"lrs": [], "scores": []}
        self.fine: dict[str, list[float]] = {"lrs": [], "scores": []}
        # the schedule from ``start`` (a kept step): knots in local steps and their LRs
        self.plan: dict[str, Any] = {}
        self.rollbacks = 0
        self.probe_steps = 0
        # the run's last kept train losses (the plateau test's windows), and where the decay
        # started (a fraction of the budget charged)
        self.recent: list[float] = []
        self.decay_start: float | None = None
        self._schedule: Schedule | None = None

    # ---- ask / tell ---------------------------------------------------------------------

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        if probe is None:
            raise ValueError(
                "controller 'auto' runs probes: run it in a Session (autolr run), or pass "
                "attach(..., train_step=...) so that it can probe in your own loop"
            )
        budget = self.budget or state.budget
        if self.phase == "coarse":
            self._coarse(state, probe, budget)
        if self.phase == "stable" and self._decay_due(state, budget):
            self.decay_start = state.charged / budget
            self._fine(state, probe, budget)
        steps = state.interval
        if self.phase == "stable":  # end the segment where the decay is due at the latest
            latest = self.fine_at if self.fine_at is not None else self.decay_max
            steps = min(steps, max(1, round(latest * budget) - state.charged))
        steps = max(1, min(steps, probe.remaining))
        guarded = self.rollbacks < MAX_HALVINGS
        return Segment(
            self._segment_schedule(state.step),
            steps,
            undo=self.undo if guarded else None,
            catch_divergence=self.catch_divergence and guarded,
        )

    def observe(self, state: TrainingState) -> None:
        if not state.rolled_back and self.phase == "stable" and self.fine_at is None:
            keep = 2 * self.plateau_steps(self.budget or state.budget)
            self.recent = (self.recent + [float(x) for x in state.losses])[-keep:]
        if state.rolled_back and math.isfinite(self.peak):
            # the peak failed on the long run: halve it, and the rest of the plan with it
            self.rollbacks += 1
            if self.rollbacks > MAX_HALVINGS:
                return
            self.peak = max(self.peak / 2.0, self.min_lr)
            self.plan["values"] = [v / 2.0 for v in self.plan["values"]]
            self._schedule = None

    def stats(self) -> dict[str, float | int | None]:
        budget = self.budget or 0
        return {
            "peak_lr": None if math.isnan(self.peak) else self.peak,
            "coarse_lr": self._best(self.coarse)[0] if self.coarse["lrs"] else None,
            "rank_rho": self._rank_rho(),
            "probe_steps": self.probe_steps,
            "probe_fraction": self.probe_steps / budget if budget else None,
            "rollbacks": self.rollbacks,
            "decay_start": self.decay_start,
        }

    # ---- the decay's start --------------------------------------------------------------

    def plateau_steps(self, budget: int) -> int:
        """The plateau test's window, in steps."""
        return max(MIN_WINDOW, round(self.plateau_window * budget))

    def _decay_due(self, state: TrainingState, budget: int) -> bool:
        if self.fine_at is not None:
            return state.charged >= round(self.fine_at * budget)
        if state.charged >= round(self.decay_max * budget):
            return True
        if state.charged < round(self.decay_min * budget):
            return False
        found = plateaued(np.asarray(self.recent), self.plateau_steps(budget), self.plateau_z)
        return bool(found)

    # ---- the two rounds -----------------------------------------------------------------

    def _clip(self, lr: float) -> float:
        return float(min(max(lr, self.min_lr), self.max_lr))

    def _run(self, probe: Probe, schedule: Schedule, steps: int, cooldown: int) -> float:
        res = probe.run(Segment(schedule, steps), steps)
        self.probe_steps += res.steps
        return score(res, cooldown, self.blowup)

    def _coarse(self, state: TrainingState, probe: Probe, budget: int) -> None:
        centre = self.lr if self.lr is not None else state.lr
        third = max(MIN_PROBE // 3, round(self.coarse_frac * budget / 3))
        n = 3 * third

        def trial(lr: float) -> float:
            knots = [0, third, 2 * third, n]
            return self._run(probe, piecewise_linear(knots, [0.0, lr, lr, 0.0]), n, third)

        half = self.candidates // 2
        lrs = sorted({self._clip(centre * self.spread**i) for i in range(-half, half + 1)})
        scores = [trial(lr) for lr in lrs]
        for _ in range(self.extend):  # the best at an edge: grow the grid that way
            best = int(np.argmin(scores))
            if not math.isfinite(scores[best]) or best == 0:  # (all diverged: go lower)
                nxt, at = self._clip(lrs[0] / self.spread), 0
            elif best == len(lrs) - 1:
                nxt, at = self._clip(lrs[-1] * self.spread), len(lrs)
            else:
                break
            if nxt in lrs or probe.remaining < n:
                break
            lrs.insert(at, nxt)
            scores.insert(at, trial(nxt))
        self.coarse = {"lrs": lrs, "scores": scores}
        peak = edge_wary(lrs, scores, self.edge_tol)
        # an equal cooldown over a short horizon still favours high peaks (measured on the
        # tuning seeds: the coarse winner is 1-8x the tuned peak, docs/auto.md): run below it
        self.peak = self._clip(peak / self.shrink) if math.isfinite(peak) else lrs[0]
        self.phase = "stable"
        warm = min(round(self.warmup_frac * budget), max(0, probe.remaining - 1))
        self._replan(state.step, probe.remaining, warm, decay=False)

    def _fine(self, state: TrainingState, probe: Probe, budget: int) -> None:
        n = round(self.fine_frac * budget)
        cool = n // 3
        hold = n - cool
        if cool >= 1 and hold >= 1 and probe.remaining > 3 * n:
            lrs = [self._clip(self.peak * f) for f in (1 / self.fine_ratio, 1.0, self.fine_ratio)]
            lrs = sorted(set(lrs))
            scores = []
            for lr in lrs:
                sched = piecewise_linear([0, hold, n], [lr, lr, 0.0])
                scores.append(self._run(probe, sched, n, cool))
            self.fine = {"lrs": lrs, "scores": scores}
            best, _ = self._best(self.fine)
            if math.isfinite(best):
                self.peak = best
        self.phase = "decay"
        self._replan(state.step, probe.remaining, 0, decay=True)

    @staticmethod
    def _best(found: dict[str, list[float]]) -> tuple[float, float]:
        scores = found["scores"]
        i = int(np.argmin(scores))
        return (
            (float(found["lrs"][i]), float(scores[i]))
            if math.isfinite(scores[i])
            else (
                math.nan,
                math.inf,
            )
        )

    def _rank_rho(self) -> float | None:
        """The coarse round's scores, interpolated in log LR at the fine candidates, against
        the fine round's scores."""
        c_lr, c_sc = np.asarray(self.coarse["lrs"]), np.asarray(self.coarse["scores"])
        keep = np.isfinite(c_sc)
        if keep.sum() < 2 or len(self.fine["lrs"]) < 3:
            return None
        at = np.interp(np.log(self.fine["lrs"]), np.log(c_lr[keep]), c_sc[keep])
        return rank_rho(list(at), list(self.fine["scores"]))

    # ---- the run's schedule -------------------------------------------------------------

    def _replan(self, start: int, remaining: int, warmup: int, decay: bool) -> None:
        """Knots from kept step ``start`` over the ``remaining`` budget: a warmup to the
        peak, then the peak held (stable) or decayed linearly to zero (decay)."""
        remaining = max(1, remaining)
        if decay:
            steps, values = [0, remaining], [self.peak, 0.0]
        elif warmup > 0:  # the first step at peak / (warmup + 1), not at zero
            steps, values = [0, warmup], [self.peak / (warmup + 1), self.peak]
        else:
            steps, values = [0], [self.peak]
        self.plan = {"start": int(start), "steps": steps, "values": values}
        self._schedule = None

    def _segment_schedule(self, step: int) -> Schedule:
        if self._schedule is None:
            self._schedule = piecewise_linear(self.plan["steps"], self.plan["values"])
        return shift(self._schedule, step - self.plan["start"])

    # ---- checkpoints --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _STATE_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(
                f"auto's checkpoint state lacks {', '.join(missing)}: it was written by an "
                "earlier version of auto (before its decay start went online, 2026-12-03) and "
                "cannot resume with this one; start the run again"
            )
        for key in _STATE_KEYS:
            setattr(self, key, state[key])
        self._schedule = None
