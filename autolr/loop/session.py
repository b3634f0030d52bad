"""Session: the one training loop that every controller, the RL env and the benchmark share."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from autolr.controllers.base import Controller
from autolr.loop import snapshot as snapshots
from autolr.loop.collapse import CollapseGuard
from autolr.loop.history import History
from autolr.loop.ledger import Ledger
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState, ema_update, loss_stats
from autolr.loop.stepstats import StepStats, sharpness
from autolr.loop.trainee import Trainee
from autolr.schedules.torch_adapter import set_momentum

T = TypeVar("T")

CHECKPOINT_VERSION = 1


@dataclasses.dataclass
class Outcome:
    """What one stretch of training produced (kept or not)."""

    losses: np.ndarray
    steps_run: int
    diverged: bool
    history: History
    stats: StepStats


class Session:
    """One training run: a Trainee, a Controller and a budget of optimizer steps.

    ``advance(segment)`` trains one segment and returns the new TrainingState; ``run()``
    repeats ``controller.propose(state, probe)`` and ``advance`` until the ledger's budget is
    spent. A non-finite loss, or one above ``divergence_factor`` times the best interval mean,
    rolls back to the snapshot taken at the segment's start, charges the lost steps, flags
    the state and caps later LRs at ``rollback_lr_factor`` times the failed segment's peak.
    """

    def __init__(
        self,
        trainee: Trainee,
        controller: Controller,
        budget_steps: int,
        interval: int,
        *,
        eval_every: int | None = None,
        min_lr: float | None = None,
        max_lr: float | None = None,
        lr_multipliers: Sequence[float] | None = None,
        divergence_factor: float = 10.0,
        rollback_lr_factor: float = 0.5,
        measure_sharpness: bool = False,
        initial_lr: float | None = None,
    ) -> None:
        info = trainee.info
        self.trainee = trainee
        self.controller = controller
        self.ledger = Ledger(budget_steps)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be an integer >= 1, got {interval!r}")
        self.interval = interval
        self.eval_every = info.eval_every if eval_every is None else eval_every
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        self.min_lr = info.min_lr if min_lr is None else min_lr
        self.max_lr = info.max_lr if max_lr is None else max_lr
        if not 0 <= self.min_lr <= self.max_lr:
            raise ValueError(f"min_lr must be in [0, max_lr={self.max_lr}], got {self.min_lr}")
        n_groups = len(trainee.optimizer.param_groups)
        mults = [1.0] * n_groups if lr_multipliers is None else [float(m) for m in lr_multipliers]
        if len(mults) != n_groups or any(m <= 0 for m in mults):
            raise ValueError(
                f"lr_multipliers must be {n_groups} positive numbers (one per param group), "
                f"got {list(lr_multipliers or [])!r}"
            )
        self.lr_multipliers = mults
        if divergence_factor <= 1:
            raise ValueError(f"divergence_factor must be > 1, got {divergence_factor}")
        self.divergence_factor = divergence_factor
        if not 0 < rollback_lr_factor < 1:
            raise ValueError(f"rollback_lr_factor must be in (0, 1), got {rollback_lr_factor}")
        self.rollback_lr_factor = rollback_lr_factor
        self.measure_sharpness = measure_sharpness
        self.history = History()
        self.probe = Probe(self)
        self.lr_cap = math.inf
        self.rollbacks = 0
        self.wall_time = 0.0
        self._ema = math.nan
        self._best = math.inf
        self._first = math.nan
        self._snapshot: snapshots.Snapshot | None = None
        self.callbacks: list[Callable[[Session], None]] = []
        lr0 = info.lr if initial_lr is None else initial_lr
        self.state = self._initial_state(lr0)

    # ---- properties --------------------------------------------------------------------

    @property
    def step(self) -> int:
        """Kept optimizer steps: where the model is. Batch ``step`` comes next."""
        return self.ledger.kept

    @property
    def done(self) -> bool:
        return self.ledger.remaining == 0

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> TrainingState:
        """Propose and advance until the budget is spent; then evaluate the final model."""
        while not self.done:
            segment = self._timed(self.controller.propose, self.state, self.probe)
            if not isinstance(segment, Segment):
                raise TypeError(
                    f"controller {self.controller.name!r} proposed {segment!r}, not a Segment"
                )
            if self.done:  # its probes spent the budget
                break
            self.advance(segment)
            self._timed(self.controller.observe, self.state)
            for callback in self.callbacks:
                callback(self)
        self.finish()
        return self.state

    def _guard(self, segment: Segment, n: int) -> CollapseGuard | None:
        """The segment's collapse guard, measured against the loss before any training (the
        initial model on batch 0: the same on a resumed run)."""
        if segment.undo is None:
            return None
        return CollapseGuard(
            segment.undo, self._first, self._best, window=max(10, min(50, n // 10))
        )

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        """Call a controller hook, charging its whole duration to the wall time: its own
        compute (a GP fit, a policy) as well as the probes it runs (which add their part)."""
        wall, start = self.wall_time, time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.wall_time = wall + (time.perf_counter() - start)

    def advance(self, segment: Segment) -> TrainingState:
        """Train one segment (cut to the remaining budget) and return the new state."""
        if self.done:
            raise RuntimeError("the budget is spent; nothing left to advance")
        start = time.perf_counter()
        lrs, moms, mults = self.plan(segment, min(segment.steps, self.ledger.remaining))
        good = self.snapshot()
        out = self.train(lrs, mults, moms, record=True, guard=self._guard(segment, len(lrs)))
        if out.diverged:
            snapshots.restore(self.trainee, good)
            self.ledger.charge("lost", out.steps_run)
            self.rollbacks += 1
            self.lr_cap = min(self.lr_cap, float(lrs.max()) * self.rollback_lr_factor)
            self.wall_time += time.perf_counter() - start
            self.state = self.state.evolve(
                charged=self.ledger.charged,
                diverged=True,
                rolled_back=True,
                rollbacks=self.rollbacks,
                wall_time=self.wall_time,
                losses=out.losses[: out.steps_run],
                probe_steps=self._probe_steps(),
            )
            return self.state
        self.ledger.charge("kept", out.steps_run)
        self.history.extend(out.history)
        self._snapshot = None
        losses = out.losses
        stats = loss_stats(losses)
        self._ema = ema_update(self._ema, losses)
        self._best = min(self._best, stats["loss_mean"])
        last = self.history.last_eval
        sharp = (
            sharpness(self.trainee, self.trainee.batch(self.step))
            if (self.measure_sharpness)
            else None
        )
        self.wall_time += time.perf_counter() - start
        self.state = dataclasses.replace(
            self.state,
            step=self.step,
            charged=self.ledger.charged,
            lr=float(lrs[-1]),
            group_lrs=tuple(float(lrs[-1]) * m for m in mults),
            loss_ema=self._ema,
            best_loss=self._best,
            grad_norm=out.stats.grad_norm,
            update_ratio=out.stats.update_ratio,
            hypergrad_cos=out.stats.hypergrad_cos,
            val_loss=None if last is None else last["val_loss"],
            val_metric=None if last is None else last["val_metric"],
            val_step=None if last is None else int(last["step"]),
            diverged=False,
            rolled_back=False,
            rollbacks=self.rollbacks,
            probe_steps=self._probe_steps(),
            wall_time=self.wall_time,
            sharpness=sharp,
            losses=losses,
            **stats,
        )
        return self.state

    def finish(self) -> None:
        """Evaluate the final model if the last evaluation is not at the current step."""
        last = self.history.last_eval
        if last is None or int(last["step"]) != self.step:
            self._evaluate_into(self.history)
            last = self.history.last_eval
            assert last is not None
            self.state = self.state.evolve(
                val_loss=last["val_loss"], val_metric=last["val_metric"], val_step=self.step
            )

    # ---- the inner loop (the hot path) -------------------------------------------------

    def train(
        self,
        lrs: np.ndarray,
        mults: Sequence[float],
        moms: np.ndarray | None = None,
        *,
        record: bool,
        start: int | None = None,
        cut_spikes: bool = True,
        guard: CollapseGuard | None = None,
    ) -> Outcome:
        """Run ``len(lrs)`` optimizer steps from batch ``start`` (default: ``self.step``).

        Stops at a non-finite loss, or (with ``cut_spikes``) at a loss above
        ``divergence_factor`` times the best interval mean, or when ``guard`` trips. Touches
        neither the ledger nor the snapshot: callers charge and restore.
        """
        trainee, opt = self.trainee, self.trainee.optimizer
        groups = opt.param_groups
        n = len(lrs)
        losses = np.full(n, math.nan)
        history = History()
        stats = StepStats(trainee.model, n)
        spikes = cut_spikes and 0 < self._best < math.inf
        threshold = self.divergence_factor * self._best if spikes else math.inf
        eval_every = self.eval_every if record else 0
        base = self.step if start is None else start
        charged0 = self.ledger.charged
        t0 = time.perf_counter()
        for k in range(n):
            lr = float(lrs[k])
            for group, m in zip(groups, mults):
                group["lr"] = lr * m
                if moms is not None:
                    set_momentum(group, float(moms[k]))
            opt.zero_grad(set_to_none=True)
            loss = trainee.loss(trainee.batch(base + k))
            loss.backward()
            stats.before_step(k)
            opt.step()
            stats.after_step(k)
            value = loss.item()
            losses[k] = value
            if not math.isfinite(value) or value > threshold:
                return Outcome(losses, k + 1, True, history, stats)
            if guard is not None and guard.update(value):
                return Outcome(losses, k + 1, True, history, stats)
            if record:
                wall = self.wall_time + time.perf_counter() - t0
                history.add_step(
                    step=base + k + 1,
                    charged=charged0 + k + 1,
                    lr=lr,
                    train_loss=value,
                    wall_time=wall,
                )
                if eval_every and (base + k + 1) % eval_every == 0:
                    self._evaluate_into(
                        history, step=base + k + 1, charged=charged0 + k + 1, wall=wall
                    )
        return Outcome(losses, n, False, history, stats)

    # ---- snapshots and checkpoints -----------------------------------------------------

    def snapshot(self) -> snapshots.Snapshot:
        """A snapshot of the current point (cached until training moves the model)."""
        if self._snapshot is None or self._snapshot.cursor != self.step:
            self._snapshot = snapshots.take(self.trainee, self.step)
        return self._snapshot

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue bit-identically on CPU."""
        snap = snapshots.take(self.trainee, self.step)
        state = dataclasses.asdict(self.state)
        state["losses"] = torch.from_numpy(np.asarray(self.state.losses, dtype=np.float64))
        return {
            "version": CHECKPOINT_VERSION,
            "snapshot": snapshots.to_state_dict(snap),
            "ledger": self.ledger.state_dict(),
            "history": self.history.state_dict(),
            "controller": self.controller.state_dict(),
            "session": {
                "lr_cap": self.lr_cap,
                "rollbacks": self.rollbacks,
                "wall_time": self.wall_time,
                "ema": self._ema,
                "best": self._best,
                "state": state,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(
                f"checkpoint version {state.get('version')!r} is not {CHECKPOINT_VERSION}"
            )
        snap = snapshots.from_state_dict(state["snapshot"])
        snapshots.restore(self.trainee, snap)
        self.ledger.load_state_dict(state["ledger"])
        self.history.load_state_dict(state["history"])
        self.controller.load_state_dict(state["controller"])
        s = state["session"]
        self.lr_cap, self.rollbacks = float(s["lr_cap"]), int(s["rollbacks"])
        self.wall_time, self._ema, self._best = float(s["wall_time"]), s["ema"], s["best"]
        fields = dict(s["state"])
        fields["losses"] = np.asarray(fields["losses"], dtype=np.float64)
        fields["group_lrs"] = tuple(fields["group_lrs"])
        self.state = TrainingState(**fields)
        self._snapshot = None

    # ---- internals ---------------------------------------------------------------------

    def _initial_state(self, lr0: float) -> TrainingState:
        with torch.no_grad():
            initial_loss = float(self.trainee.loss(self.trainee.batch(0)).item())
        self._best = initial_loss if math.isfinite(initial_loss) and initial_loss > 0 else math.inf
        self._first = initial_loss if math.isfinite(initial_loss) else math.nan
        if self.eval_every:
            self._evaluate_into(self.history, step=0, charged=0, wall=0.0)
        last = self.history.last_eval
        return TrainingState(
            step=0,
            budget=self.ledger.budget,
            charged=0,
            interval=self.interval,
            lr=lr0,
            group_lrs=tuple(lr0 * m for m in self.lr_multipliers),
            initial_lr=lr0,
            initial_loss=initial_loss,
            loss_mean=initial_loss,
            loss_last=initial_loss,
            loss_ema=initial_loss,
            best_loss=initial_loss,
            val_loss=None if last is None else last["val_loss"],
            val_metric=None if last is None else last["val_metric"],
            val_step=None if last is None else 0,
        )

    def _evaluate_into(
        self,
        history: History,
        step: int | None = None,
        charged: int | None = None,
        wall: float | None = None,
    ) -> None:
        val_loss, val_metric = self.trainee.evaluate()
        history.add_eval(
            step=self.step if step is None else step,
            charged=self.ledger.charged if charged is None else charged,
            val_loss=float(val_loss),
            val_metric=float(val_metric),
            wall_time=self.wall_time if wall is None else wall,
        )

    def plan(self, segment: Segment, n: int) -> tuple[np.ndarray, np.ndarray | None, list[float]]:
        """The first ``n`` steps of a segment as ``train`` takes them: base LRs within the
        bounds and the rollback cap, momenta (or None), and per-group multipliers."""
        t = np.arange(n)
        lrs = np.clip(segment.schedule.values(t), self.min_lr, min(self.max_lr, self.lr_cap))
        mom = segment.schedule.momentum
        if segment.multipliers is None:
            mults = list(self.lr_multipliers)
        elif len(segment.multipliers) != len(self.lr_multipliers):
            raise ValueError(
                f"segment has {len(segment.multipliers)} multipliers but the optimizer has "
                f"{len(self.lr_multipliers)} param groups"
            )
        else:
            mults = [a * b for a, b in zip(self.lr_multipliers, segment.multipliers)]
        return lrs, None if mom is None else mom.values(t), mults

    def _probe_steps(self) -> int:
        return self.ledger.probe + self.ledger.range_test
