"""``LRControlEnv`` (``autolr/LRControl-v0``): LR control as a gymnasium environment.

One episode is one Session on one task instance; one step is one interval of training.

Observation: ``agents.features.encode(state)``, a ``Box(-5, 5, (14,), float32)``.

Action (``agents.actions``, shared with the ``meta`` and ``rl`` controllers), always within
the task's bounds and the session's cap after a rollback:

- ``continuous``: ``a ∈ Box(-1, 1, (1,))``, ``η_t = η_{t-1} · 2^a`` (compounds freely);
- ``discrete``: ``Discrete(3)`` with ``a = action - 1 ∈ {-1, 0, 1}`` (multipliers ½, 1, 2),
  compounding the same way;
- ``residual``: ``a ∈ Box(-1, 1, (1,))`` modulates a base schedule over the budget,
  ``η(k) = base(k) · 2^(r · a)`` over the interval's steps k, with ``r = residual_range``
  and ``base = residual_base`` (``wsd``: 5% warmup, linear decay over the last 20%; or
  ``cosine``) peaking at the instance's LR. It cannot compound: its worst case is the
  base ×2^±r.

Reward, with ``L_t`` the mean train loss of interval t (``L_0`` the initial loss), ``m`` the
validation metric (``m_0`` before training, ``m_T`` of the final model), ``s = +1`` if the
metric is maximised and ``-1`` if minimised::

    dense:     r_t = ln L_{t-1} − ln L_t               (sums to ln(L_0 / L_T))
    terminal:  r_T = w · s · ln(m_T / m_0)             (0 before the last step)
    both:      the sum of the two
    divergence (a rollback): r_t = −divergence_penalty instead of the dense term.

A rollback does not end the episode, as it does not end a benchmark run: the agent sees the
post-rollback observation (the model back where it was, ``rolled_back`` set) and the
penalty, and goes on; ``info["diverged"]`` is true on that step and ``info["rollbacks"]``
counts the episode's rollbacks. The lost steps are charged to the budget, so an episode
still ends. The episode terminates when the budget is spent, or when the Session gives up
rescuing (``info["halted"]`` says why; ``autolr.loop.rescue``); it is never truncated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.actions import ACTIONS, ActionSpec, log2_multiplier
from agents.features import CLIP, N_FEATURES, encode
from agents.instances import Instance, InstanceSet, check_split
from autolr.checks import check_choice, check_nonnegative
from autolr.controllers.base import Controller
from autolr.loop.direction import Direction
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.loop.state import TrainingState
from autolr.loop.trainee import make_task

ENV_ID = "autolr/LRControl-v0"
REWARDS = ("dense", "terminal", "both")
_FLOOR = 1e-12


class Driven(Controller):
    """A placeholder controller for a session that something outside drives."""

    name = "driven"

    def propose(self, state: TrainingState, probe: Any) -> Segment:
        raise RuntimeError("this session is driven by advance(); it has no controller")


def open_session(instance: Instance, controller: Controller | None = None) -> Session:
    """A Session on ``instance``, starting at the instance's LR."""
    trainee = make_task(instance.task, seed=instance.seed)
    return Session(
        trainee,
        controller or Driven(),
        instance.budget_steps,
        instance.interval,
        initial_lr=instance.lr,
        rescue=True,  # a divergence is rolled back, and the episode goes on
    )


def initial_metric(session: Session) -> float:
    """The validation metric before training (evaluated if the session did not)."""
    evals = session.history.evals
    if evals["step"] and int(evals["step"][0]) == 0:
        return float(evals["val_metric"][0])
    return float(session.trainee.evaluate()[1])


def score(final: float | None, initial: float, direction: Direction | str) -> float:
    """``s · ln(m_T / m_0)``: the final metric normalised by the initial one (higher is better);
    ``s`` is the metric direction's sign."""
    if final is None or not math.isfinite(final):
        return -CLIP
    return Direction.of(direction).sign * math.log(max(final, _FLOOR) / max(initial, _FLOOR))


class LRControlEnv(gym.Env):
    """Control the LR of a training Session, one interval per step (see the module docstring).

    Args:
        instances: an instance-set spec (``agents.instances``); None for the default nqm set.
        split: ``"train"`` or ``"test"``; ``reset(options={"split": ...})`` overrides it.
        action: ``"continuous"``, ``"discrete"`` or ``"residual"``.
        residual_range: ``r`` of ``residual``, in log2 units (> 0; 1: ×½..×2).
        residual_base: the base schedule of ``residual``: ``"wsd"`` or ``"cosine"``.
        reward: ``"dense"``, ``"terminal"`` or ``"both"``.
        terminal_weight: ``w`` in the terminal term.
        divergence_penalty: the reward of a step that diverged (its negative), >= 0.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        instances: Mapping[str, Any] | InstanceSet | None = None,
        split: str = "train",
        action: str = "continuous",
        reward: str = "both",
        terminal_weight: float = 1.0,
        divergence_penalty: float = 1.0,
        residual_range: float = 1.0,
        residual_base: str = "wsd",
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (no rendering), got {render_mode!r}")
        self.render_mode = render_mode
        self.instances = instances if isinstance(instances, InstanceSet) else InstanceSet(instances)
        self.split = check_split(split)
        self.action_kind = check_choice("action", action, ACTIONS)
        self.action_spec = ActionSpec(self.action_kind, residual_range, residual_base)
        self.reward_kind = check_choice("reward", reward, REWARDS)
        self.terminal_weight = check_nonnegative("terminal_weight", terminal_weight)
        self.divergence_penalty = check_nonnegative("divergence_penalty", divergence_penalty)
        self.observation_space = spaces.Box(-CLIP, CLIP, (N_FEATURES,), np.float32)
        self.action_space: spaces.Space[Any] = self.action_spec.space()
        self.session: Session | None = None
        self.instance: Instance | None = None
        self._m0 = math.nan
        self._over = True

    def log2_multiplier(self, action: Any) -> float:
        """The action as ``a`` (``agents.actions.log2_multiplier``)."""
        return log2_multiplier(self.action_kind, action)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        split = check_split(options.pop("split", self.split))
        instance = options.pop("instance", None)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; accepted: split, instance")
        self.instance = instance or self.instances.sample(split, self.np_random)
        self.session = open_session(self.instance)
        self._m0 = initial_metric(self.session)
        self._over = False
        return encode(self.session.state), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.session is None or self._over:
            raise RuntimeError("call reset() before step() (the episode is over)")
        session = self.session
        before = session.state
        state = session.advance(self.action_spec.segment(before, self.log2_multiplier(action)))
        reward = 0.0
        if state.rolled_back:  # the model is back where it was; the episode goes on
            reward -= self.divergence_penalty
        elif self.reward_kind in ("dense", "both"):
            reward += math.log(max(before.loss_mean, _FLOOR)) - math.log(
                max(state.loss_mean, _FLOOR)
            )
        terminated = self._over = session.done
        if terminated:
            session.finish()
            if self.reward_kind in ("terminal", "both"):
                reward += self.terminal_weight * self.final_score()
        info = self._info()
        if terminated:
            info["score"] = self.final_score()
        return encode(session.state), float(reward), terminated, False, info

    def final_score(self) -> float:
        """``s · ln(m_T / m_0)`` of the session so far (its latest validation metric)."""
        assert self.session is not None
        info = self.session.trainee.info
        return score(self.session.state.val_metric, self._m0, info.direction)

    def _info(self) -> dict[str, Any]:
        assert self.session is not None and self.instance is not None
        state = self.session.state
        return {
            "lr": state.lr,
            "step": state.step,
            "fraction": state.fraction,
            "diverged": state.rolled_back,
            "rollbacks": state.rollbacks,
            "halted": self.session.halted,
            "instance": self.instance.key(),
            "seed": self.instance.seed,
        }


def register() -> None:
    """Register ``autolr/LRControl-v0`` with gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="agents.env:LRControlEnv")


register()
