"""`autolrs`: AutoLRS (Jin et al., ICLR 2021), Bayesian optimisation of the LR on the fly.

Training runs in stages. Stage s trains tau_s = min(tau0 * 2**s, tau_max) steps at one LR,
chosen by k trials of ``trial_fraction * tau_s`` steps each. Every trial is a Probe from the
same in-memory snapshot, on the same batches, charged to the budget, and undone. A trial's
score is its loss forecast at tau_s (an exponential fit by default, ``search.forecast``);
in the validation phase (``val_after``) the score adds the trial's validation-minus-train
gap. A GP over normalised log-LR (``search.gp``) picks the candidates.

Two presets set the defaults (an explicit parameter always wins):

- ``"paper"`` (the default) follows the paper and its authors' ``autolrs_server.py``: k = 10
  trials of tau / 10; tau doubles each stage up to tau_max = 8 * tau0, and once tau has
  reached tau_max the trials are validated; the GP's acquisition is the paper's LCB with
  kappa = 1e6 (near-pure exploration); the first trial is at the log-midpoint of the range
  (the paper draws it log-uniformly at random: we use that draw's expectation, so that
  runs are deterministic); the stage trains at the trial with the lowest observed forecast;
  no LR floor, no final decay, no collapse guard, no range widening.
- ``"fast"`` is this controller's earlier tuned behaviour: k = 4 trials of tau / 20, first
  candidates at x = 0.25 and 0.75, UCB with beta = 2, the choice by the GP posterior mean,
  validation after 75% of the budget, an LR floor (``max_decay`` 2), a final linear decay,
  the collapse guard (``undo`` 0.5) and range widening at the range's edge.

Budget scaling (the paper's tau0 = 1000 and tau_max = 8000 steps fit ImageNet-scale runs,
not budgets of a few thousand steps):

- paper: tau0 = max(ceil(10 / trial_fraction), budget // 16): trials of at least 10 steps
  (the exponential fit needs >= 6 points) and 16 first stages per budget; tau_max = 8 * tau0
  (the paper's tau_max / tau0). A 3000-step budget gives tau0 = 187 (trials of 19 steps),
  nqm's 1000 steps give tau0 = 100 (trials of 10). With no budget: the paper's 1000 / 8000.
- fast: tau0 = max(10, budget // 16), tau_max = budget // 4 (4000 when no budget is known).

The LR range is ``lr_range`` when given (the paper's min_lr / max_lr); otherwise our LR range
test sets it, charged to the budget (the paper has no range test: its user gives the bounds,
and this interface gives none). A diverged or NaN trial scores ``gp.worst_score`` (worse
than every finite score) where the paper tells the GP 1e6: the same order, on the scale of
the other scores.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from autolr.checks import CheckError, check_choice, check_int, check_positive, check_range
from autolr.controllers.base import Controller
from autolr.loop.collapse import check_undo
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState
from autolr.schedules import constant, linear
from search import gp
from search.autolrs_presets import (  # noqa: F401  (re-exported: the presets' names)
    CHOICES,
    FROM_PRESET,
    MIN_TRIAL_STEPS,
    PAPER_BETA,
    PAPER_INITIAL_X,
    PAPER_K,
    PAPER_KAPPA,
    PAPER_TAU0_STEPS,
    PAPER_TAU_MAX_STEPS,
    PAPER_TAU_RATIO,
    PAPER_TRIAL_FRACTION,
    PRESET_VALUES,
    PRESETS,
    VAL_RULES,
    FromPreset,
    Preset,
    default_tau0,
    default_tau_max,
)
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
    "trial_steps",
)


class AutoLRS(Controller):
    """AutoLRS with in-process probes.

    Every parameter marked *preset* takes its default from ``preset`` (paper / fast, see the
    module docstring); an explicit value always wins. ``max_decay`` and ``undo``, whose None
    means "off", default to ``FROM_PRESET`` instead of None, so that an explicit None is
    honoured.

    Args:
        lr: the warmup target and the fallback LR (the task's lr when unset).
        budget_steps: the run's budget (set by ``build_controller``); sizes tau0 and tau_max.
        preset: "paper" (the paper's settings, scaled to the budget) or "fast".
        k: *preset* trials per stage (>= 2; paper 10, fast 4).
        tau0, tau_max: the first and the largest stage length, in steps. paper:
            max(ceil(10 / trial_fraction), budget // 16) and 8 * tau0; fast: max(10,
            budget // 16) and budget // 4.
        trial_fraction: *preset* trial length as a fraction of tau, in (0, 1] (paper 1/10,
            fast 1/20).
        acquisition: "ucb" (the paper's LCB on the loss) or "logei".
        beta: *preset* the UCB weight: mean + sqrt(beta) * sigma on -loss (paper kappa**2 =
            1e12, its LCB with kappa = 1e6; fast 2).
        initial_x: *preset* the first candidates, as x in [0, 1] of the log range (paper
            (0.5,), fast (0.25, 0.75)); the GP picks the rest.
        choose: *preset* how the stage's LR is picked among the trials that did not diverge:
            "forecast" (the lowest observed forecast, paper) or "gp_mean" (the lowest GP
            posterior mean at the tried LRs, fast).
        forecaster: "exp" (paper), "power", or "last" (mean of the trial's last quarter).
        val_after: *preset* when trials are also validated: a fraction of the budget (1 =
            never; fast 0.75) or "tau_max" (once the stage length has reached tau_max, the
            paper's validation stage).
        lr_range: (lo, hi); when None, an LR range test (charged) sets hi (see
            ``search.lr_range``, at most 10 * lr) and lo = hi / range_ratio.
        range_test_steps: the range test's length.
        range_ratio: hi / lo when the range test sets the range (> 1).
        warmup_steps: a linear warmup to ``lr`` before the first stage.
        adaptive: cut overhead late in training: k_s = max(3, ceil(k * (1 - f))) candidates
            at budget fraction f, trials of trial_fraction * tau * (1 - f / 2) steps, and the
            GP re-uses the last ``memory`` stages through a time-decayed kernel.
        memory: stages the adaptive GP remembers.
        max_decay: *preset* a stage searches only LRs >= the last stage's LR / max_decay
            (None: no floor, paper; fast 2). Short trials favour small LRs (the quick drop
            of an LR cut looks like progress); the floor stops the greedy search from
            annealing too early.
        final_decay: *preset* when no further stage fits the budget, the last stage runs to
            the end of the budget with lr(t) = lr * (1 - t / n) instead of a constant (a
            WSD-style final decay; paper false, fast true).
        undo: *preset* the collapse guard on every stage (``autolr.loop.collapse``): a
            stage that gives back more than this fraction of the training's progress is
            rolled back (its steps charged as lost) and the range capped below its LR.
            None: no guard (paper; fast 0.5). Short trials can crown an LR that first drops
            the loss fast and then kills the network.
        widen: *preset* a choice at the edge of the range moves the range 2x that way
            (paper false, fast true).
    """

    reads_step_stats = False

    name = "autolrs"
    needs_probe = True

    def __init__(
        self,
        lr: float | None = None,
        budget_steps: int | None = None,
        preset: str = "paper",
        k: int | None = None,
        tau0: int | None = None,
        tau_max: int | None = None,
        trial_fraction: float | None = None,
        acquisition: str = "ucb",
        beta: float | None = None,
        initial_x: tuple[float, ...] | list[float] | None = None,
        choose: str | None = None,
        forecaster: str = "exp",
        val_after: float | str | None = None,
        lr_range: tuple[float, float] | list[float] | None = None,
        range_test_steps: int = 50,
        range_ratio: float = 100.0,
        warmup_steps: int = 0,
        adaptive: bool = False,
        memory: int = 3,
        max_decay: float | FromPreset | None = FROM_PRESET,
        final_decay: bool | None = None,
        undo: float | FromPreset | None = FROM_PRESET,
        widen: bool | None = None,
    ) -> None:
        self.preset = check_choice("preset", preset, PRESETS)
        d = PRESET_VALUES[self.preset]
        self.lr = None if lr is None else check_positive("lr", lr)
        budget = None if budget_steps is None else check_int("budget_steps", budget_steps, 1)
        self.budget_steps = budget
        self.k = check_int("k", d.k if k is None else k, 2)
        self.trial_fraction = check_range(
            "trial_fraction",
            d.trial_fraction if trial_fraction is None else trial_fraction,
            0.0,
            1.0,
            low_open=True,
        )
        if tau0 is None:
            tau0 = default_tau0(self.preset, budget, self.trial_fraction)
        self.tau0 = check_int("tau0", tau0, 2)
        if tau_max is None:
            tau_max = default_tau_max(self.preset, budget, self.tau0)
        self.tau_max = check_int("tau_max", tau_max, 2)
        if self.tau_max < self.tau0:
            raise ValueError(f"tau_max must be >= tau0 ({self.tau0}), got {self.tau_max}")
        self.acquisition = check_choice("acquisition", acquisition, gp.ACQUISITIONS)
        self.beta = check_positive("beta", d.beta if beta is None else beta)
        self.initial_x = self._check_initial(d.initial_x if initial_x is None else initial_x)
        self.choose = check_choice("choose", d.choose if choose is None else choose, CHOICES)
        self.forecaster = check_choice("forecaster", forecaster, tuple(FORECASTERS))
        val_after = d.val_after if val_after is None else val_after
        self.val_after: float | str = (
            check_choice("val_after", val_after, VAL_RULES)
            if isinstance(val_after, str)
            else check_range("val_after", val_after, 0.0, 1.0)
        )
        check_lr_range(lr_range)
        self.range_test_steps = check_int("range_test_steps", range_test_steps, 5)
        self.range_ratio = check_range("range_ratio", range_ratio, 1.0, math.inf, low_open=True)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, 0)
        self.adaptive = self._check_bool("adaptive", adaptive)
        self.final_decay = self._check_bool(
            "final_decay", d.final_decay if final_decay is None else final_decay
        )
        self.widen = self._check_bool("widen", d.widen if widen is None else widen)
        self.memory = check_int("memory", memory, 1)
        self.undo = check_undo(d.undo if undo is FROM_PRESET else undo)
        max_decay = d.max_decay if max_decay is FROM_PRESET else max_decay
        self.max_decay = (
            None
            if max_decay is None
            else check_range("max_decay", max_decay, 1.0, math.inf, low_open=True)
        )
        self.lo, self.hi = (math.nan, math.nan) if lr_range is None else map(float, lr_range)
        self.stage = 0
        self.range_steps = 0
        self.trial_steps = 0  # steps run in trials (charged), for ``stats``
        self.chosen_lr = math.nan
        self.forecasts: list[float] = []  # forecast of the chosen LR's loss at tau ...
        self.reached: list[float] = []  # ... and the loss the stage actually reached
        self.xs: list[float] = []  # GP memory: normalised log-LR, centred score, stage
        self.scores: list[float] = []
        self.ages: list[int] = []
        self.log: list[dict[str, Any]] = []
        self.gp_seconds = 0.0
        gp.load_backend()  # at construction: the import is not charged to any run's time

    @staticmethod
    def _check_bool(name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise CheckError(name, value, "a bool")
        return value

    def _check_initial(self, values: Any) -> tuple[float, ...]:
        if not isinstance(values, tuple | list) or not 1 <= len(values) <= self.k:
            raise CheckError("initial_x", values, f"a list of 1 to k = {self.k} numbers")
        return tuple(check_range("initial_x", v, 0.0, 1.0) for v in values)

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
        use_val = self._validates(state)
        tried: list[tuple[float, float, float]] = []  # (x, lr, score)
        for i in range(k):
            x = self._next_x(i, [t[0] for t in tried], [t[2] for t in tried])
            lr = self.to_lr(x)
            res = probe.run(lr, trial, validate=use_val)
            self.trial_steps += res.steps
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
        """``probe_fraction``: the steps run in trials over the budget (None when the
        budget is unknown); the range test is not counted."""
        rho = self.forecast_quality()
        budget = self.budget_steps
        return {
            "forecast_rho": None if math.isnan(rho) else rho,
            "gp_seconds": self.gp_seconds,
            "stages": self.stage,
            "probe_fraction": None if budget is None else self.trial_steps / budget,
        }

    # ---- internals ----------------------------------------------------------------------

    def _validates(self, state: TrainingState) -> bool:
        """Whether this stage's trials are validated (see ``val_after``)."""
        if self.val_after == "tau_max":  # the paper's validation stage
            return min(self.tau0 * 2**self.stage, self.tau_max) >= self.tau_max
        return state.fraction >= float(self.val_after)

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
        if not old and i < len(self.initial_x):
            return low + (1.0 - low) * self.initial_x[i]
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
            pred = ys  # choose: "forecast", the lowest observed forecast
            if self.choose == "gp_mean" and len(good) >= 3:
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
            clear = float(np.median(ys)) - float(ys.min()) > 0.01 * abs(float(np.median(ys)))
            if self.widen and clear:
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
