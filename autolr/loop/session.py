"""Session: the one training loop that every controller, the RL env and the benchmark share."""

from __future__ import annotations

import inspect
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from autolr.controllers.base import Controller
from autolr.loop import checkpoint, ddp
from autolr.loop import snapshot as snapshots
from autolr.loop.collapse import CollapseGuard
from autolr.loop.guard import SharpnessGuard
from autolr.loop.history import History
from autolr.loop.ledger import Ledger
from autolr.loop.merge import MergeConfig, Merger
from autolr.loop.probe import Probe
from autolr.loop.rescue import Rescue
from autolr.loop.segment import Segment
from autolr.loop.sharpness import SharpnessMeter
from autolr.loop.state import StateTracker, TrainingState
from autolr.loop.stepper import Ceiling, Divergence, Outcome, Plan, Stepper, StopRule
from autolr.loop.stepstats import StepStats
from autolr.loop.trainee import Trainee
from autolr.schedules.torch_adapter import group_scales

T = TypeVar("T")


class Session:
    """One training run: a Trainee, a Controller and a budget of optimizer steps.

    ``advance(segment)`` trains one segment and returns the new TrainingState; ``run()``
    repeats ``controller.propose(state, probe)`` and ``advance`` until the ledger's budget is
    spent or the run has ended.

    Divergence is a non-finite loss or a sustained blow-up of the smoothed loss above
    ``divergence_factor`` times the best interval mean (``autolr.loop.stepper.Divergence``).
    Without ``rescue`` (the default, what a fair benchmark needs), a divergence ends the run:
    the steps it took are kept, the state is flagged and ``halted`` says why. With
    ``rescue``, the session rolls back to the snapshot taken at the segment's start, charges
    the lost steps, flags the state and caps later LRs at ``rollback_lr_factor`` times the
    failed segment's peak; it gives up (and ends the run) after ``MAX_ROLLBACKS_IN_A_ROW``
    rollbacks at one step, or when the cap would fall below ``min_lr``. A segment's own
    collapse guard (``Segment.undo``, the controller's request) always rolls back, and so
    does a divergence in a segment with ``catch_divergence`` (charged, with no cap: the
    controller that asked lowers its LR).

    Layer-wise LR: group g trains at ``lr * lr_scale[g]``, where ``lr_scale`` is each param
    group's own ``lr_scale`` key (default 1), set from the ``lr_scale`` argument if given,
    times the segment's ``lr_scale``, exactly as ``autolr.attach`` and ``ScheduleLR`` do.

    Checkpoint merging (``merge``, ``autolr.loop.merge``): the kept steps of the window's
    checkpoints add the parameters to a weighted average, which a rollback restores with the
    model; ``finish`` evaluates the merged model after the training model's final numbers.
    Evaluations during the run are of the training model.
    Sharpness: ``measure_sharpness`` puts λmax(H) into each state (``autolr.loop.sharpness``);
    ``guard`` (a SharpnessGuard) caps the LR below the optimizer's stability edge
    (``autolr.loop.guard``). Both charge their seconds to the wall time and to
    ``ledger.sharpness_seconds``, and no optimizer steps.

    Data-parallel (``torch.distributed``, ``autolr.loop.ddp``): every rank builds its Session
    alike and runs it in lockstep. Each step's training loss, the evaluations and the step
    statistics are the ranks' means, so every rank's controller decides alike; every kept
    segment's and probe's plan is rank 0's; ``save`` is rank 0's write, ``load`` every rank's.
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
        lr_scale: Sequence[float] | None = None,
        divergence_factor: float = 10.0,
        rollback_lr_factor: float = 0.5,
        measure_sharpness: bool = False,
        initial_lr: float | None = None,
        rescue: bool = False,
        merge: Merger | MergeConfig | Mapping[str, Any] | None = None,
        guard: SharpnessGuard | None = None,
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
        groups = trainee.optimizer.param_groups
        if lr_scale is not None:
            scale = [float(m) for m in lr_scale]
            if len(scale) != len(groups) or any(not m > 0 for m in scale):
                raise ValueError(
                    f"lr_scale must be {len(groups)} positive numbers (one per param group), "
                    f"got {list(lr_scale)!r}"
                )
            for group, m in zip(groups, scale, strict=True):
                group["lr_scale"] = m
        self.lr_scale = group_scales(groups)
        if divergence_factor <= 1:
            raise ValueError(f"divergence_factor must be > 1, got {divergence_factor}")
        self.divergence_factor = divergence_factor
        self.rescuer = Rescue(rollback_lr_factor, self.min_lr)
        if ddp.active() and (measure_sharpness or guard is not None):
            # λmax is estimated on each rank's own batches (and Hessian-vector products
            # bypass DDP's gradient hooks): the ranks would cap their LRs differently
            raise ValueError(
                "measure_sharpness and guard are not supported under torch.distributed "
                f"(world size {ddp.world()}): run them single-process"
            )
        self.measure_sharpness = measure_sharpness
        self.meter = SharpnessMeter() if measure_sharpness else None
        self.guard = guard
        if guard is not None:
            if trainee.train_step is not None:
                raise ValueError("the sharpness guard needs the trainee's loss, not a closure")
            guard.bind(trainee.optimizer, self.min_lr)
        self.rescue = bool(rescue)
        self.halted: str | None = None  # why the run ended before its budget, if it did
        self.history = History()
        self.probe = Probe(self)
        self.stepper = Stepper(trainee.optimizer)
        self.tracker = StateTracker()
        self._warned_max_lr = False
        self._snapshot: snapshots.Snapshot | None = None
        trainee.set_budget(self.ledger.budget)  # before the first batch is drawn
        self.callbacks: list[Callable[[Session], None]] = []
        if merge is not None and not isinstance(merge, Merger):
            merge = Merger(merge, budget_steps, trainee.model)
        self.merge = merge
        lr0 = float(info.lr if initial_lr is None else initial_lr)  # never a numpy scalar
        self.state = self._initial_state(lr0)

    # ---- properties --------------------------------------------------------------------

    @property
    def step(self) -> int:
        """Kept optimizer steps: where the model is. Batch ``step`` comes next."""
        return self.ledger.kept

    @property
    def done(self) -> bool:
        """The budget is spent, or the run ended early (see ``halted``)."""
        return self.ledger.remaining == 0 or self.halted is not None

    @property
    def lr_cap(self) -> float:
        """The cap on later LRs after rescues (inf until one happens)."""
        return self.rescuer.cap

    @property
    def rollbacks(self) -> int:
        return self.ledger.rollbacks

    @property
    def wall_time(self) -> float:
        """Seconds charged to the run: training, probes, evaluations, controller compute."""
        return self.ledger.seconds

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> TrainingState:
        """Take turns until the budget is spent; then evaluate the final model."""
        while self.turn():
            pass
        self.finish()
        return self.state

    def turn(self) -> bool:
        """One turn of the loop: the controller proposes a segment (its probes charged), the
        session advances it, the controller observes. False once the budget is spent."""
        if self.done:
            return False
        segment = self._timed(self.controller.propose, self.state, self.probe)
        if not isinstance(segment, Segment):
            raise TypeError(
                f"controller {self.controller.name!r} proposed {segment!r}, not a Segment"
            )
        if self.done:  # its probes spent the budget
            return False
        self.advance(segment)
        self._timed(self.controller.observe, self.state)
        for callback in self.callbacks:
            callback(self)
        return True

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        """Call a controller hook, charging its whole duration to the wall time: its own
        compute (a GP fit, a policy) as well as the probes it runs (which add their part)."""
        wall, start = self.ledger.seconds, time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.ledger.seconds = wall + (time.perf_counter() - start)

    def advance(self, segment: Segment) -> TrainingState:
        """Train one segment (cut to the remaining budget) and return the new state."""
        if self.halted is not None:
            raise RuntimeError(f"the run has ended: {self.halted}")
        if self.done:
            raise RuntimeError("the budget is spent; nothing left to advance")
        start = time.perf_counter()
        n = min(segment.steps, self.ledger.remaining)
        # the guard's cap is applied (and re-measured) by the stepper as the steps run;
        # under DDP, rank 0's plan and collapse guard are every rank's: one LR at each step
        plan, undo, catch = ddp.agree(
            (self.plan(segment, n, with_guard=False), segment.undo, segment.catch_divergence)
        )
        self._warn_clamped(plan)
        # the snapshot a rollback returns to: only a rescue or the segment's guards need one
        good = self.snapshot() if self.rescue or catch or undo is not None else None
        merge_mark = (
            None if good is None or self.merge is None else self.merge.mark(self.step, len(plan))
        )
        guard_before = None if good is None or self.guard is None else self.guard.state_dict()
        stop = self.divergence(self._guard(undo, len(plan)))
        history = History()
        stats = (
            StepStats(self.trainee.model, len(plan)) if self.controller.reads_step_stats else None
        )
        ceiling = None
        if self.guard is not None:
            ceiling = self.guard.ceiling(self.trainee, plan.lr_scale, self.ledger)
        out = self._train(plan, stop, history=history, stats=stats, ceiling=ceiling)
        lrs = out.lrs  # as written: under the guard's cap, if there is one
        assert lrs is not None
        if stats is not None and ddp.active():  # equal under DDP; the mean makes it certain
            names = ("grad_norm", "update_ratio", "hypergrad_cos", "step_decrease", "step_cos")
            means = ddp.mean_array(np.array([getattr(stats, n) for n in names])).tolist()
            for name, value in zip(names, means, strict=True):
                setattr(stats, name, value)
        if out.stopped and (stop.tripped == "extra" or self.rescue or catch):
            assert good is not None
            snapshots.restore(self.trainee, good)
            if self.merge is not None:
                self.merge.restore(merge_mark)
            if self.guard is not None:  # its measurements were of the discarded stretch
                self.guard.load_state_dict(guard_before)  # type: ignore[arg-type]
            self.ledger.roll_back(out.steps_run, time.perf_counter() - start)
            if self.rescue:
                self.halted = self.rescuer.after_rollback(self.step, float(lrs.max()))
            self.state = self.tracker.after_rollback(self.state, self.ledger, out.ran)
            return self.state
        self.ledger.charge("kept", out.steps_run)
        self.history.extend(history)
        self._snapshot = None
        if self.guard is not None:
            self.guard.kept(plan.lrs[: out.steps_run], lrs[: out.steps_run])
        sharp = self._sharpness() if self.meter is not None else None
        self.ledger.seconds += time.perf_counter() - start
        self.state = self.tracker.after_segment(
            self.state,
            self.ledger,
            out.ran,
            float(lrs[out.steps_run - 1]),
            plan.lr_scale,
            stats=stats,
            val=self.history.last_eval,
            sharpness=sharp,
            log_ema=stop.log_ema,
        )
        if out.stopped:  # divergence, no rescue: the run ends here
            self.halted = f"diverged at step {self.step} ({stop.tripped} loss)"
            self.state = self.tracker.after_divergence(self.state)
        return self.state

    def finish(self) -> None:
        """Evaluate the final model on validation if the last evaluation is not at the
        current step, then once on the test split (``history.test``); with ``merge``, then
        the merged model, whose numbers replace those (``Merger.finish``).

        The test split is evaluated here only, after the last turn: no TrainingState carries
        it, so neither a controller nor a probe can see it. Finishing again at the same
        step (a resumed finished run) evaluates nothing twice. Its time is not charged to
        the run: no method needs the test set to train.
        """
        last = self.history.last_eval
        if last is None or int(last["step"]) != self.step:
            self._evaluate_into(self.history, self.step, self.ledger.charged, self.wall_time)
            last = self.history.last_eval
            assert last is not None
            self.state = self.state.evolve(
                val_loss=last["val_loss"], val_metric=last["val_metric"], val_step=self.step
            )
        test = self.history.test
        if (test is None or int(test["step"]) != self.step) and _has_test_split(self.trainee):
            test_loss, test_metric = ddp.evaluate(self.trainee, "test")
            self.history.test = {
                "step": self.step,
                "charged": self.ledger.charged,
                "test_loss": float(test_loss),
                "test_metric": float(test_metric),
            }
        if self.merge is not None:
            self.merge.finish(self)

    # ---- what the stepper runs, and what probes call ------------------------------------

    def plan(self, segment: Segment, n: int, with_guard: bool = True) -> Plan:
        """The first ``n`` steps of a segment as the stepper writes them: base LRs within
        the bounds, the rollback cap and (``with_guard``) the sharpness guard's current cap,
        momenta (or None), per-group scales."""
        high = min(self.max_lr, self.lr_cap)
        if with_guard and self.guard is not None:
            high = min(high, self.guard.cap)
        return segment.plan(n, self.lr_scale, self.min_lr, high)

    def divergence(self, guard: CollapseGuard | None = None) -> Divergence:
        """The stop rule of training from here: a non-finite loss, or the smoothed loss
        above ``divergence_factor`` times the best interval mean (once there is one), or
        ``guard`` tripping."""
        extra = None if guard is None else guard.update
        return self.tracker.divergence(self.divergence_factor, extra)

    def trial(self, plan: Plan, stop: StopRule) -> Outcome:
        """Train ``plan`` from the current point without recording it (for a Probe, which
        snapshots, charges and restores around it)."""
        return self._train(plan, stop)

    def snapshot(self) -> snapshots.Snapshot:
        """A snapshot of the current point (cached until training moves the model)."""
        if self._snapshot is None or self._snapshot.cursor != self.step:
            self._snapshot = snapshots.take(self.trainee, self.step)
        return self._snapshot

    def _train(
        self,
        plan: Plan,
        stop: StopRule,
        *,
        history: History | None = None,
        stats: StepStats | None = None,
        ceiling: Ceiling | None = None,
    ) -> Outcome:
        """Run ``plan`` from batch ``self.step`` through the stepper. With ``history``, its
        steps and the evaluations due are recorded there; ``stats`` measures the last two
        steps; ``ceiling`` (the guard's) bounds the LRs as they are written. Touches neither
        the ledger nor the snapshot: callers charge and restore."""
        trainee, opt = self.trainee, self.trainee.optimizer
        base, n = self.step, len(plan)
        own_step = trainee.train_step
        measure_from = n if stats is None else stats.first

        # under DDP each step's loss is the ranks' mean: the stop rules and the history
        # (and so every controller) see the same numbers on every rank
        reduce: Callable[[float], float] = ddp.mean if ddp.active() else float

        def closure_step(k: int) -> float:  # a trainee that steps itself (a user's closure)
            return reduce(float(own_step(trainee.batch(base + k))))  # type: ignore[misc]

        def step(k: int) -> float:
            opt.zero_grad(set_to_none=True)
            loss = trainee.loss(trainee.batch(base + k))
            loss.backward()
            if k >= measure_from:
                stats.before_step(k)  # type: ignore[union-attr]
            opt.step()
            if k >= measure_from:
                stats.after_step(k)  # type: ignore[union-attr]
            return reduce(loss.item())

        wall0, charged0, t0 = self.wall_time, self.ledger.charged, time.perf_counter()
        at: Callable[[int], None] | None = None
        if history is not None and self.eval_every:

            def at(k: int) -> None:
                wall = wall0 + time.perf_counter() - t0
                self._evaluate_into(history, base + k + 1, charged0 + k + 1, wall)

        train = step if own_step is None else closure_step
        if history is not None and self.merge is not None:  # kept steps only, not probes
            train = self.merge.wrap(train, base)
        out = self.stepper.run(
            plan,
            train,
            stop,
            every=self.eval_every,
            offset=base,
            at=at,
            ceiling=ceiling,
        )
        if history is not None:
            r = out.steps_run
            history.add_steps(
                step=np.arange(base + 1, base + r + 1),
                charged=np.arange(charged0 + 1, charged0 + r + 1),
                lr=out.lrs[:r],  # type: ignore[index]
                train_loss=out.ran,
                wall_time=wall0 + (np.asarray(out.times) - t0),
            )
        return out

    # ---- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue bit-identically on CPU."""
        return checkpoint.session_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        checkpoint.load_session_state(self, state)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the checkpoint to ``path`` (atomically). Under DDP, rank 0 writes it, with
        every rank's RNG states, and all ranks return once it is in place."""
        checkpoint.save(self, path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Resume from the checkpoint at ``path``, written by ``save`` (under DDP: by all
        ranks, each taking back its own RNG states)."""
        checkpoint.load(self, path)

    # ---- internals ---------------------------------------------------------------------

    def _warn_clamped(self, plan: Plan) -> None:
        """Warn once per run when the controller asks for more than ``max_lr``: the clamp
        keeps an adaptive controller safe, but the run is no longer what it proposed. (LRs
        below ``min_lr`` are not warned about: decaying schedules reach the floor by design.)
        """
        if self._warned_max_lr:
            return
        asked = plan.asked_max
        if asked > self.max_lr:
            self._warned_max_lr = True
            warnings.warn(
                f"controller {self.controller.name!r} proposed lr {asked:g} at step "
                f"{self.step}, above max_lr {self.max_lr:g}: clamped to max_lr (warned once)",
                RuntimeWarning,
                stacklevel=3,
            )

    def _sharpness(self) -> float:
        """λmax(H) at the current step (``measure_sharpness``), its seconds charged."""
        assert self.meter is not None
        start = time.perf_counter()
        value = self.meter.measure(self.trainee, self.step).value
        self.ledger.sharpness_seconds += time.perf_counter() - start
        return value

    def _guard(self, undo: float | None, n: int) -> CollapseGuard | None:
        """The segment's collapse guard (its ``undo``), measured against the loss before any
        training (the initial model on batch 0: the same on a resumed run)."""
        if undo is None:
            return None
        t = self.tracker
        return CollapseGuard(undo, t.first, t.best, window=max(10, min(50, n // 10)))

    def _initial_state(self, lr0: float) -> TrainingState:
        with torch.no_grad():
            initial_loss = ddp.mean(float(self.trainee.loss(self.trainee.batch(0)).item()))
        if self.eval_every:
            self._evaluate_into(self.history, 0, 0, 0.0)
        return self.tracker.initial(
            budget=self.ledger.budget,
            interval=self.interval,
            lr=lr0,
            lr_scale=self.lr_scale,
            initial_loss=initial_loss,
            val=self.history.last_eval,
        )

    def _evaluate_into(self, history: History, step: int, charged: int, wall: float) -> None:
        val_loss, val_metric = ddp.evaluate(self.trainee)
        history.add_eval(
            self.trainee.extra_metrics(),
            step=step,
            charged=charged,
            val_loss=float(val_loss),
            val_metric=float(val_metric),
            wall_time=wall,
        )


def _has_test_split(trainee: Trainee) -> bool:
    """A trainee written before test splits (``evaluate(self)``, no ``split``) has none."""
    return bool(inspect.signature(trainee.evaluate).parameters)
