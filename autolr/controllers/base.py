"""The Controller contract (ask/tell) and the controller registry."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autolr.registry import Registry, check_known

if TYPE_CHECKING:
    from autolr.loop.probe import Probe
    from autolr.loop.segment import Segment
    from autolr.loop.state import TrainingState


class Controller(abc.ABC):
    """Observes the training state each interval and emits the next LR segment.

    ``propose(state, probe)`` returns a Segment; ``probe`` may be None where the controller
    runs in a user's own loop (``autolr.attach``), and a controller that needs one says so.
    ``observe(state)`` is told the outcome of the segment (including a rollback).
    ``state_dict``/``load_state_dict`` make a checkpointed run resume exactly.
    """

    name: str = "controller"
    needs_probe: bool = False
    # Whether propose/observe read the step statistics (grad_norm, update_ratio,
    # hypergrad_cos). A controller that does not may say False: the session then skips
    # measuring them (they stay NaN), which is a sizeable part of its per-segment cost.
    reads_step_stats: bool = True
    # A peer is what a practitioner runs instead of a controller (fastai's lr_find, then a
    # fixed shape): the bench gives its cells the track "peer" rather than "self", and
    # makes no open-loop replay of it (its trace is a fixed schedule already).
    peer: bool = False
    # Whether ``build_controller`` fills the constructor's ``min_lr``/``max_lr`` from the
    # run's LR bounds (where the spec gives none). Off by default: greedy's and
    # hypergradient's own ``max_lr`` are caps of their own, with their own defaults.
    takes_lr_bounds: bool = False

    @abc.abstractmethod
    def propose(self, state: TrainingState, probe: Probe | None) -> Segment:
        """The next segment of training."""

    def observe(self, state: TrainingState) -> None:  # noqa: B027  (optional hook)
        """Feedback after the segment ran; ``state.rolled_back`` tells of a divergence."""

    def stats(self) -> dict[str, float | int | None]:
        """Numbers about the controller's own work (forecast quality, search time), reported
        in a run's summary under ``controller_stats``; None where a number is undefined."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027
        """Restore what ``state_dict`` returned."""


CONTROLLERS: Registry[type[Controller]] = Registry(
    "controller", group="autolr.controllers", shipped=True
)


def build_controller(
    spec: Mapping[str, Any] | Controller,
    default_lr: float | None = None,
    budget_steps: int | None = None,
    lr_bounds: tuple[float, float] | None = None,
) -> Controller:
    """Build a controller from ``{"name": ..., **params}``.

    A controller whose constructor takes ``lr`` gets the task's ``default_lr`` when the spec
    gives none; one that takes ``budget_steps`` gets the run's budget; one whose class sets
    ``takes_lr_bounds`` gets the run's ``lr_bounds`` as ``min_lr``/``max_lr`` where the spec
    gives none.
    """
    if isinstance(spec, Controller):
        return spec
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(f"controller must be a mapping with a 'name', got {spec!r}")
    params = dict(spec)
    name = params.pop("name")
    import autolr.controllers  # noqa: F401  (registers the built-ins)

    cls = CONTROLLERS.get(name)
    accepted = inspect.signature(cls).parameters
    check_known(f"controller {name!r}", params, accepted)
    if "lr" in accepted and params.get("lr") is None and default_lr is not None:
        params["lr"] = default_lr
    if "budget_steps" in accepted and params.get("budget_steps") is None:
        params["budget_steps"] = budget_steps
    if lr_bounds is not None and getattr(cls, "takes_lr_bounds", False):
        for key, value in zip(("min_lr", "max_lr"), lr_bounds, strict=True):
            if key in accepted and params.get(key) is None:
                params[key] = value
    try:
        return cls(**params)
    except TypeError as err:
        raise ValueError(f"controller {name!r}: {err}") from None
