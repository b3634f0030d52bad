"""What the ``rl`` and ``meta`` controllers share: acting on features, and one rollout.

A policy controller maps the features of the latest state to an action ``a ∈ [-1, 1]`` and
proposes the next interval's Segment exactly as the env does (``agents.actions.ActionSpec``,
the kind its policy file records): ``η_t = η_{t-1} · 2^a`` for a compounding policy,
``base(k) · 2^(r · a)`` for a residual one (the Session clamps it to the task's bounds). It
times its own decisions, so an evaluation can report the overhead.
"""

from __future__ import annotations

import abc
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.actions import ActionSpec
from agents.env import initial_metric, open_session, score
from agents.features import encode
from agents.instances import Instance
from autolr.controllers.base import Controller
from autolr.loop.probe import Probe
from autolr.loop.segment import Segment
from autolr.loop.state import TrainingState


class PolicyController(Controller):
    """Base of the policy controllers: ``propose`` encodes, calls ``act``, and times both.

    Args:
        lr: the initial LR the session starts from (the task's lr when built from a config).

    A subclass sets ``action_spec`` from its policy (``continuous`` until it does).
    """

    action_spec = ActionSpec()

    def __init__(self, lr: float | None = None) -> None:
        if lr is not None and (not isinstance(lr, int | float) or not lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.lr = lr
        self.decision_time = 0.0
        self.decisions = 0

    @abc.abstractmethod
    def act(self, features: np.ndarray) -> float:
        """The action ``a ∈ [-1, 1]`` for these features (``agents.actions``)."""

    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        start = time.perf_counter()
        segment = self.action_spec.segment(state, self.act(encode(state)))
        self.decision_time += time.perf_counter() - start
        self.decisions += 1
        return segment

    def stats(self) -> dict[str, float | int | None]:
        """The decision time, so that an evaluation from a run's summary can report overhead."""
        return {"decision_time_s": self.decision_time, "decisions": self.decisions}

    def state_dict(self) -> dict[str, Any]:
        return {"decision_time": self.decision_time, "decisions": self.decisions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decision_time = float(state.get("decision_time", 0.0))
        self.decisions = int(state.get("decisions", 0))


@dataclass(frozen=True)
class Rollout:
    """One finished session on one instance.

    ``score`` is ``s · ln(m_T / m_0)`` (see ``agents.env``); ``lrs`` is the per-step LR trace
    of the kept steps; ``overhead`` is the controller's decision time over the session's.
    """

    instance: Instance
    score: float
    final_metric: float
    diverged: bool
    lrs: np.ndarray
    wall_time: float
    overhead: float


def rollout(instance: Instance, controller: Controller) -> Rollout:
    """Run ``controller`` on ``instance`` to the end of its budget."""
    session = open_session(instance, controller)
    m0 = initial_metric(session)
    start = time.perf_counter()
    session.run()
    wall = time.perf_counter() - start
    final = session.state.val_metric
    spent = getattr(controller, "decision_time", 0.0)
    return Rollout(
        instance=instance,
        score=score(final, m0, session.trainee.info.direction),
        final_metric=math.nan if final is None else float(final),
        diverged=session.rollbacks > 0,
        lrs=np.asarray(session.history.steps["lr"], dtype=np.float64),
        wall_time=wall,
        overhead=spent / wall if wall > 0 else 0.0,
    )
