"""The stepper: the one inner loop of autolr.

It is the only code that writes LRs, momenta and per-group scales into an optimizer while
training, records the per-step losses and applies the stop rules. The Session's segments,
its probes, the range test, ``autolr.attach`` (push mode: the user steps) and the drop-in
AutoLRS loop all go through it.

The hot path does per step only what a run needs per step: write the LR (when it changed),
call the step, record the loss and its time, and compare the loss with the stop rule.
Everything else (history rows, statistics) is computed once per segment from the arrays.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from autolr.schedules.torch_adapter import write_groups

# A stop rule sees each step's loss and says whether the stretch must stop there.
StopRule = Callable[[float], bool]


@dataclass(frozen=True)
class Plan:
    """What one stretch of training writes before each of its steps.

    lrs:      the base LR of each step (float64);
    moments:  the momentum (SGD) or beta1 (Adam) of each step, or None to leave it alone;
    lr_scale: one factor per param group; group g's LR at step k is ``lrs[k] * lr_scale[g]``.
    asked_max: the largest base LR the schedule asked for, before the bounds clipped it.
    """

    lrs: np.ndarray
    moments: np.ndarray | None
    lr_scale: tuple[float, ...]
    asked_max: float = math.nan  # the largest base LR asked for, before any clipping

    def __len__(self) -> int:
        return int(self.lrs.size)


@dataclass
class Outcome:
    """What a stretch produced: the losses of the steps run (NaN after a stop), how many ran,
    whether a stop rule fired, and each step's ``time.perf_counter()`` after it finished.
    ``lrs``: the base LR of each of the plan's steps as written: the plan's, clipped by a
    Ceiling where one was given (steps after a stop: by the last cap)."""

    losses: np.ndarray
    steps_run: int
    stopped: bool
    times: list[float] = field(default_factory=list)
    lrs: np.ndarray | None = None

    @property
    def ran(self) -> np.ndarray:
        """The losses of the steps that ran."""
        return self.losses[: self.steps_run]


@dataclass
class Ceiling:
    """An upper bound on the base LR that is re-measured while a stretch runs (the sharpness
    guard's cap, ``autolr.loop.guard``). ``cap`` bounds the steps from the start; before the
    step taken at every global step that is a multiple of ``every`` (the model then has
    trained that many steps), ``update(step)`` is called and its result bounds the steps
    from there on. Each step writes ``min(plan LR, cap)``."""

    cap: float
    every: int
    update: Callable[[int], float]


# Divergence smoothing: the EMA of log(loss) with this beta (about a 10-step memory).
SMOOTHING = 0.9


class Divergence:
    """The stop rule of training: divergence, and optionally an extra rule.

    Divergence is a non-finite loss, or a sustained blow-up: the EMA of ``log(loss)``
    (``m_k = SMOOTHING·m_(k−1) + (1 − SMOOTHING)·log(loss_k)``, starting from ``log_ema``, the
    run's smoothed level so far) above ``log(threshold)``. One hard batch cannot trip it: a
    single loss r times the level lifts ``m`` by only ``0.1·log(r)`` (a batch 10¹⁰ times the
    level would be needed), while a loss that stays at 20× the level trips it within 14
    steps. The ``extra`` rule (the collapse guard) sees every finite loss. ``tripped`` says
    which rule fired: ``"non-finite"``, ``"blow-up"`` or ``"extra"``.
    """

    __slots__ = ("extra", "limit", "log_ema", "tripped")

    def __init__(
        self,
        threshold: float = math.inf,
        extra: StopRule | None = None,
        log_ema: float = math.nan,
    ) -> None:
        self.limit = math.log(threshold) if 0 < threshold < math.inf else math.inf
        self.extra = extra
        self.log_ema = log_ema
        self.tripped: str | None = None

    def __call__(self, loss: float) -> bool:
        if not math.isfinite(loss):
            self.tripped = "non-finite"
            return True
        # the smoothed level is kept even while no limit applies: the run's state needs it
        x = math.log(loss) if loss > 0 else -745.0  # log of the smallest double
        m = self.log_ema
        m = x if m != m else SMOOTHING * m + (1.0 - SMOOTHING) * x  # m != m: NaN
        self.log_ema = m
        if m > self.limit:
            self.tripped = "blow-up"
            return True
        if self.extra is not None and self.extra(loss):
            self.tripped = "extra"
            return True
        return False


class Stepper:
    """Writes a Plan into an optimizer step by step and records the losses.

    Pull mode: ``run(step)`` calls ``step(k) -> loss`` for each local step k (the callee does
    zero_grad, forward, backward and ``optimizer.step()``). Push mode (the user's own loop):
    ``begin(plan)`` writes step 0's LR, then ``record(loss)`` after each step records it and
    writes the next step's LR.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        # Read the groups at each write: Optimizer.load_state_dict (a restore) replaces them.
        self.optimizer = optimizer
        self._written: float | None = None
        self._scale: tuple[float, ...] = ()
        self._plan: Plan | None = None
        self._lrs: list[float] = []
        self._moms: list[float] | None = None
        self._losses: list[float] = []

    # ---- writing ------------------------------------------------------------------------

    def write(self, lr: float, lr_scale: Sequence[float], momentum: float | None = None) -> None:
        """Set every group's LR to ``lr * lr_scale[g]`` (and momentum, if given)."""
        scale = tuple(lr_scale)
        if lr != self._written or scale != self._scale:
            write_groups(self.optimizer.param_groups, [lr * s for s in scale], momentum)
            self._written, self._scale = lr, scale
        elif momentum is not None:
            write_groups(self.optimizer.param_groups, None, momentum)

    # ---- pull mode ----------------------------------------------------------------------

    def run(
        self,
        plan: Plan,
        step: Callable[[int], float],
        stop: StopRule,
        *,
        every: int = 0,
        offset: int = 0,
        at: Callable[[int], None] | None = None,
        ceiling: Ceiling | None = None,
    ) -> Outcome:
        """Run ``len(plan)`` steps; stop early where ``stop(loss)`` is True.

        ``at(k)`` is called after local step k whenever ``(offset + k + 1) % every == 0``
        (the Session's evaluations), unless the step stopped the stretch. ``ceiling``
        bounds the LRs written (see Ceiling); the Outcome's ``lrs`` says what was written.
        """
        n = len(plan)
        lrs = plan.lrs.tolist()
        cap, next_cap = math.inf, n
        if ceiling is not None:
            cap, next_cap = ceiling.cap, -offset % ceiling.every
        caps = [(0, cap)]  # (local step, the cap from there on)
        moms = None if plan.moments is None else plan.moments.tolist()
        groups = self.optimizer.param_groups
        pairs = list(zip(groups, plan.lr_scale, strict=True))
        losses: list[float] = []
        times: list[float] = []
        clock = time.perf_counter
        next_at = (every - offset % every - 1) if (every and at is not None) else n
        stopped, last = False, None
        for k in range(n):
            if moms is not None:
                write_groups(groups, None, moms[k])
            if k == next_cap:  # after the momentum: the ceiling may depend on it
                cap = ceiling.update(offset + k)  # type: ignore[union-attr]
                caps.append((k, cap))
                next_cap += ceiling.every  # type: ignore[union-attr]
            # write_groups, inlined: this loop is the hot path of every run.
            lr = lrs[k]
            if lr > cap:
                lr = cap
            if lr != last:
                for group, s in pairs:
                    group["lr"] = lr * s
                last = lr
            value = step(k)
            times.append(clock())
            losses.append(value)
            if stop(value):
                stopped = True
                break
            if k == next_at:
                at(k)  # type: ignore[misc]
                next_at += every
        self._written = None  # the groups now hold this plan's last LR, not a push-mode one
        out = np.full(n, math.nan)
        out[: len(losses)] = losses
        written = plan.lrs
        if ceiling is not None:
            bound = np.empty(n)
            for k, c in caps:
                bound[k:] = c
            written = np.minimum(plan.lrs, bound)
        return Outcome(out, len(losses), stopped, times, written)

    # ---- push mode ----------------------------------------------------------------------

    def begin(self, plan: Plan) -> None:
        """Start a plan in push mode: write step 0's LR."""
        self._plan = plan
        self._lrs = plan.lrs.tolist()
        self._moms = None if plan.moments is None else plan.moments.tolist()
        self._losses = []
        self._written = None
        self._write_next()

    @property
    def position(self) -> int:
        """How many steps of the current push-mode plan have been recorded."""
        return len(self._losses)

    @property
    def finished(self) -> bool:
        return self._plan is not None and len(self._losses) >= len(self._lrs)

    @property
    def lr(self) -> float:
        """The base LR of the next step (the last one once the plan is finished)."""
        k = min(len(self._losses), len(self._lrs) - 1)
        return self._lrs[k]

    def record(self, loss: float) -> None:
        """Record the loss of the step just taken and write the next step's LR."""
        self._losses.append(loss)
        if not self.finished:
            self._write_next()

    def rewrite(self) -> None:
        """Write the next push-mode step's LR (and momentum) again, after something else (a
        probe of ``autolr.attach``) wrote the groups; nothing before ``begin`` or once the
        plan is finished."""
        self._written = None
        if self._plan is not None and not self.finished:
            self._write_next()

    def losses(self) -> np.ndarray:
        """The losses recorded in push mode so far (float64)."""
        return np.asarray(self._losses, dtype=np.float64)

    def _write_next(self) -> None:
        assert self._plan is not None
        k = len(self._losses)
        self.write(self._lrs[k], self._plan.lr_scale, None if self._moms is None else self._moms[k])
