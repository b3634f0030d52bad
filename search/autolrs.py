"""`autolrs`: AutoLRS (Jin et al., ICLR 2021), Bayesian optimisation of the LR on the fly.

Training runs in stages. Stage s trains tau_s = min(tau0 * 2**s, tau_max) steps at one LR,
chosen by k trials of ``trial_fraction * tau_s`` steps each. Every trial is a Probe from the
same in-memory snapshot, on the same batches, charged to the budget, and undone. A trial's
score is its loss forecast at tau_s (an exponential fit by default, ``search.forecast``);
after ``val_after`` of the budget, the score adds the trial's validation-minus-train gap.
A GP over normalised log-LR (``search.gp``) picks the candidates; the stage trains at the
candidate with the lowest posterior mean among those that did not diverge.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from autolr.checks import check_choice, check_int, check_positive, check_range
from autolr.controllers.base import Controller
from autolr.loop.collapse import check_undo
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState
from autolr.schedules import constant, linear
from search import gp
from search.forecast import FORECASTERS, rank_correlation
from search.lr_range import check_lr_range, range_from_probe

_STATE_KEYS = (
    "lo",
    "hi",
    "stage",
    "chosen_lr",
    "forecasts",
    "reached",
    "xs",
    "scores",
    "ages",
    "log",
    "gp_seconds",
    "range_steps",
)


class AutoLRS(Controller):
    """AutoLRS with in-process probes.

    Args:
        lr: the warmup target and the fallback LR (the task's lr when unset).
        budget_steps: the run's budget (set by ``build_controller``); sizes tau0 and tau_max.
        k: candidates per stage (>= 2).
        tau0, tau_max: the first and the largest stage length, in steps (default
            max(10, budget / 16) and budget / 4).
        trial_fraction: trial length as a fraction of tau (the paper's 1/10; default 1/20),
            in (0, 1].
        acquisition: "ucb" (the paper's LCB on the loss) or "logei".
        beta: the UCB exploration weight.
        forecaster: "exp" (paper), "power", or "last" (mean of the trial's last quarter).
        val_after: fraction of the budget after which trials are also validated; 1 = never.
        lr_range: (lo, hi); when None, an LR range test (charged) sets hi (see
            ``search.lr_range``, at most 10 * lr) and lo = hi / range_ratio.
        range_test_steps: the range test's length.
        range_ratio: hi / lo when the range test sets the range (> 1).
        warmup_steps: a linear warmup to ``lr`` before the first stage.
        adaptive: cut overhead late in training: k_s = max(3, ceil(k * (1 - f))) candidates
            at budget fraction f, trials of trial_fraction * tau * (1 - f / 2) steps, and the
            GP re-uses the last ``memory`` stages through a time-decayed kernel.
        memory: stages the adaptive GP remembers.
        max_decay: a stage searches only LRs >= the last stage's LR / max_decay (None: no
            floor). Short trials favour small LRs (the quick drop of an LR cut looks like
            progress); the floor stops the greedy search from annealing too early.
        final_decay: when no further stage fits the budget, the last stage runs to the end
            of the budget with lr(t) = lr * (1 - t / n) instead of a constant (a WSD-style
            final decay).
        undo: the collapse guard on every stage (``autolr.loop.collapse``): a stage that gives
            back more than this fraction of the training's progress is rolled back (its
            steps charged as lost) and the range capped below its LR. None: no guard. Short
            trials can crown an LR that first drops the loss fast and then kills the network.
    """

    reads_step_stats = False

    name = "autolrs"
    needs_probe = True

    def __init__(
        self,
        lr: float | None = None,
        budget_steps: int | None = None,
        k: int = 4,
        tau0: int | None = None,
        tau_max: int | None = None,
        trial_fraction: float = 0.05,
        acquisition: str = "ucb",
        beta: float = 2.0,
        forecaster: str = "exp",
        val_after: float = 0.75,
        lr_range: tuple[float, float] | list[float] | None = None,
        range_test_steps: int = 50,
        range_ratio: float = 100.0,
        warmup_steps: int = 0,
        adaptive: bool = False,
        memory: int = 3,
        max_decay: float | None = 2.0,
        final_decay: bool = True,
        undo: float | None = 0.5,
    ) -> None:
        self.lr = None if lr is None else check_positive("lr", lr)
        budget = None if budget_steps is None else check_int("budget_steps", budget_steps, 1)
        self.k = check_int("k", k, 2)
        default_tau0 = max(10, (budget or 4000) // 16)
        self.tau0 = check_int("tau0", default_tau0 if tau0 is None else tau0, 2)
        default_max = max(self.tau0, (budget or 4000) // 4)
        self.tau_max = check_int("tau_max", default_max if tau_max is None else tau_max, 2)
        if self.tau_max < self.tau0:
            raise ValueError(f"tau_max must be >= tau0 ({self.tau0}), got {self.tau_max}")
        self.trial_fraction = check_range("trial_fraction", trial_fraction, 0.0, 1.0, low_open=True)
        self.acquisition = check_choice("acquisition", acquisition, gp.ACQUISITIONS)
        self.beta = check_positive("beta", beta)
        self.forecaster = check_choice("forecaster", forecaster, tuple(FORECASTERS))
        self.val_after = check_range("val_after", val_after, 0.0, 1.0)
        check_lr_range(lr_range)
        self.range_test_steps = check_int("range_test_steps", range_test_steps, 5)
        self.range_ratio = check_range("range_ratio", range_ratio, 1.0, math.inf, low_open=True)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, 0)
        if not isinstance(adaptive, bool):
            raise ValueError(f"adaptive must be a bool, got {adaptive!r}")
        self.adaptive = adaptive
        if not isinstance(final_decay, bool):
            raise ValueError(f"final_decay must be a bool, got {final_decay!r}")
        self.final_decay = final_decay
        self.memory = check_int("memory", memory, 1)
        self.undo = check_undo(undo)
        self.max_decay = (
            None
            if max_decay is None
            else check_range("max_decay", max_decay, 1.0, math.inf, low_open=True)
        )
        self.lo, self.hi = (math.nan, math.nan) if lr_range is None else map(float, lr_range)
        self.stage = 0
        self.range_steps = 0
        self.chosen_lr = math.nan
        self.forecasts: list[float] = []  # forecast of the chosen LR's loss at tau ...
        self.reached: list[float] = []  # ... and the loss the stage actually reached
        self.xs: list[float] = []  # GP memory: normalised log-LR, centred score, stage
        self.scores: list[float] = []
        self.ages: list[int] = []
        self.log: list[dict[str, Any]] = []
        self.gp_seconds = 0.0
        gp.load_backend()  # at construction: the import is not charged to any run's time

    # ---- the LR <-> x map ---------------------------------------------------------------

    def to_lr(self, x: float) -> float:
        """lr(x) = lo * (hi / lo) ** x."""
        return float(self.lo * (self.hi / self.lo) ** x)

    def to_x(self, lr: float) -> float:
        return float(math.log(lr / self.lo) / math.log(self.hi / self.lo))

    # ---- ask / tell ---------------------------------------------------------------------

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        return dataclasses.replace(self._propose(state, probe), undo=self.undo)

    def _propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        if probe is None:
            raise ValueError(
                "controller 'autolrs' needs probes: run it in a Session, or use "
                "search.dropin.AutoLRSLoop in your own loop"
            )
        if math.isnan(self.lo):
            self._range_test(probe)
        if state.step < self.warmup_steps:
            target = self.lr if self.lr is not None else math.sqrt(self.lo * self.hi)
            n = self.warmup_steps - state.step
            return Segment(constant(lr=target, warmup_steps=n), n)
        tau, trial, k = self._plan(state, probe.remaining)
        if trial == 0:  # too little budget left to search: exploit the last choice
            lr = self.chosen_lr if math.isfinite(self.chosen_lr) else self.lo
            return self._final(lr, max(1, probe.remaining))
        use_val = state.fraction >= self.val_after
        tried: list[tuple[float, float, float]] = []  # (x, lr, score)
        for i in range(k):
            x = self._next_x(i, [t[0] for t in tried], [t[2] for t in tried])
            lr = self.to_lr(x)
            res = probe.run(lr, trial, validate=use_val)
            if res.steps < trial and not res.diverged:  # the budget ran out mid-trial
                break
            tried.append((x, lr, self._score(res, tau, use_val)))
        segment = self._choose(state, tried, tau, trial, use_val)
        after = probe.remaining - tau
        nxt = min(self.tau0 * 2**self.stage, self.tau_max)
        if after < nxt * (1.0 + k * self.trial_fraction) and probe.remaining > 0:
            return self._final(self.chosen_lr, probe.remaining)  # no room for another stage
        return segment

    def _final(self, lr: float, steps: int) -> Segment:
        """The last stage: lr held (or, with final_decay, lr * (1 - t / steps)) to the end."""
        if self.final_decay and steps > 1:
            return Segment(linear(lr=lr, total_steps=steps, end_factor=0.0), steps)
        return Segment.constant(lr, steps)

    def observe(self, state: TrainingState) -> None:
        if state.rolled_back:  # the chosen LR diverged on the long run: cap the range there
            if math.isfinite(self.chosen_lr):
                self.hi = max(min(self.hi, self.chosen_lr), self.lo * 1.0001)
            self.chosen_lr = math.nan
            if len(self.forecasts) > len(self.reached):  # that stage reached nothing
                self.forecasts.pop()
            return
        if len(self.reached) < len(self.forecasts) and state.losses.size:
            tail = state.losses[-max(1, state.losses.size // 4) :]
            self.reached.append(float(tail.mean()))

    def forecast_quality(self) -> float:
        """Spearman rho between each stage's forecast and the loss that stage reached."""
        n = min(len(self.forecasts), len(self.reached))
        return rank_correlation(self.forecasts[:n], self.reached[:n])

    def stats(self) -> dict[str, float | int | None]:
        rho = self.forecast_quality()
        return {
            "forecast_rho": None if math.isnan(rho) else rho,
            "gp_seconds": self.gp_seconds,
            "stages": self.stage,
        }

    # ---- internals ----------------------------------------------------------------------

    def _plan(self, state: TrainingState, remaining: int) -> tuple[int, int, int]:
        """(tau, trial steps, candidates) for this stage, cut to the remaining budget."""
        tau = min(self.tau0 * 2**self.stage, self.tau_max)
        frac, k = self.trial_fraction, self.k
        if self.adaptive:
            f = state.fraction
            k = max(3, math.ceil(self.k * (1.0 - f)))
            frac *= 1.0 - f / 2.0
        trial = max(2, round(frac * tau))
        cost = k * trial + tau
        if cost > remaining:
            scale = remaining / cost
            tau, trial = int(tau * scale), int(trial * scale)
            if trial < 2 or tau < max(2, self.tau0 // 2):
                return max(1, remaining), 0, 0
        return tau, trial, k

    def _floor(self) -> float:
        """The lowest x this stage may search (max_decay below the last choice)."""
        if self.max_decay is None or not math.isfinite(self.chosen_lr):
            return 0.0
        return float(np.clip(self.to_x(self.chosen_lr / self.max_decay), 0.0, 0.9))

    def _next_x(self, i: int, xs: list[float], scores: list[float]) -> float:
        old = self.adaptive and self.stage > 0 and len(self.xs) > 0
        low = self._floor()
        if not old and i < 2:
            return low + (1.0 - low) * (0.25, 0.75)[i]
        if old and i == 0 and math.isfinite(self.chosen_lr):
            return float(np.clip(self.to_x(self.chosen_lr), 0.0, 1.0))
        finite = [s for s in scores if math.isfinite(s)]
        if not finite and not old:  # all diverged so far: go lower
            return max(0.0, min(xs) - 0.25) if xs else 0.25
        cur = [gp.worst_score(scores) if not math.isfinite(s) else s for s in scores]
        centre = float(np.median(finite)) if finite else 0.0
        x_all, y_all, ages = list(xs), [s - centre for s in cur], [0.0] * len(xs)
        if old:
            keep = [j for j, a in enumerate(self.ages) if 0 < self.stage - a <= self.memory]
            x_all += [self.xs[j] for j in keep]
            y_all += [self.scores[j] for j in keep]
            ages += [float(self.stage - self.ages[j]) for j in keep]
        s = gp.suggest(
            x_all,
            y_all,
            ages=ages if old else None,
            acquisition=self.acquisition,
            beta=self.beta,
            taken=xs,
            lower=low,
        )
        self.gp_seconds += s.seconds
        return s.x

    def _score(self, res: Any, tau: int, use_val: bool) -> float:
        if res.diverged or res.steps == 0 or not np.isfinite(res.losses).all():
            return math.inf
        score = FORECASTERS[self.forecaster](res.losses, tau)
        if use_val and res.val_loss is not None:
            score += res.val_loss - float(res.losses[-max(1, res.steps // 4) :].mean())
        return score if math.isfinite(score) else math.inf

    def _choose(
        self,
        state: TrainingState,
        tried: list[tuple[float, float, float]],
        tau: int,
        trial: int,
        use_val: bool,
    ) -> Segment:
        good = [t for t in tried if math.isfinite(t[2])]
        if not good:  # every trial diverged: never pick one; move the range below them all
            if tried:
                self.hi = min(t[1] for t in tried) / 4.0
                if self.lo >= self.hi:
                    self.lo = self.hi / self.range_ratio
            lr = self.lo
            forecast = math.nan
        else:
            xs = np.array([t[0] for t in good])
            ys = np.array([t[2] for t in good])
            pred = ys
            if len(good) >= 3:
                centre = float(np.median(ys))
                model = gp.fit_gp(xs, ys - centre)
                pred = gp.posterior_mean(model, xs) + centre
            best = int(np.argmin(pred))
            lr, forecast = float(good[best][1]), float(good[best][2])
            centre = float(np.median(ys))
            for x, _, sc in good:
                self.xs.append(x)
                self.scores.append(sc - centre)
                self.ages.append(self.stage)
            if float(np.median(ys)) - float(ys.min()) > 0.01 * abs(float(np.median(ys))):
                self._widen(float(xs[best]))  # only when the edge clearly wins
        self.forecasts.append(forecast)
        self.log.append(
            {
                "stage": self.stage,
                "step": state.step,
                "tau": tau,
                "trial": trial,
                "lrs": [t[1] for t in tried],
                "scores": [t[2] for t in tried],
                "lr": lr,
                "validated": use_val,
            }
        )
        self.chosen_lr = lr
        self.stage += 1
        return Segment.constant(lr, tau)

    def _widen(self, x: float) -> None:
        """A choice at the edge of the range moves the range that way (x2 per stage)."""
        if 0.05 < x < 0.95:
            return
        factor = 2.0 if x >= 0.95 else 0.5
        shift = math.log(factor) / math.log(self.hi / self.lo)
        self.lo, self.hi = self.lo * factor, self.hi * factor
        self.xs = [v - shift for v in self.xs]

    def _range_test(self, probe: Probe) -> None:
        self.lo, self.hi, self.range_steps = range_from_probe(
            probe,
            self.range_test_steps,
            self.range_ratio,
            self.lr,
            # a short sweep overshoots (measured: hi = 4.9 from 30 steps on mnist1d-cnn,
            # whose tuned lr is 0.1): never start more than 10x above the task's lr
            cap=math.inf if self.lr is None else 10.0 * self.lr,
        )

    # ---- checkpoints --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _STATE_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in _STATE_KEYS:
            if key in state:
                setattr(self, key, state[key])
