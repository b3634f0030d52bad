"""The one torch adapter: a `LRScheduler` that writes ``schedule(step)`` into param groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from autolr.schedules.base import Schedule, as_schedule


def set_momentum(group: dict[str, Any], value: float) -> None:
    """Write momentum into a param group: SGD's ``momentum`` or Adam's ``betas[0]``."""
    if "betas" in group:
        group["betas"] = (value, *tuple(group["betas"])[1:])
    elif "momentum" in group:
        group["momentum"] = value


def write_groups(
    groups: Sequence[dict[str, Any]],
    lrs: Sequence[float] | None = None,
    momentum: float | None = None,
) -> None:
    """Write one LR per param group (and a momentum into each, if given).

    Every writer of LRs goes through here: ``ScheduleLR`` and autolr's stepper.
    """
    if lrs is not None:
        for group, lr in zip(groups, lrs, strict=True):
            group["lr"] = lr
    if momentum is not None:
        for group in groups:
            set_momentum(group, momentum)


def group_scales(groups: Sequence[Mapping[str, Any]]) -> tuple[float, ...]:
    """Each group's ``lr_scale`` (default 1): the layer-wise LR factor, checked > 0."""
    scales = []
    for i, g in enumerate(groups):
        s = g.get("lr_scale", 1.0)
        if isinstance(s, bool) or not isinstance(s, int | float) or not s > 0:
            raise ValueError(f"param_groups[{i}]['lr_scale'] must be > 0, got {s!r}")
        scales.append(float(s))
    return tuple(scales)


class ScheduleLR(LRScheduler):
    """Drive an optimizer from autolr schedules.

    lr_g(t) = lr_scale_g * schedule(t)     (one schedule for every group), or
    lr_g(t) = schedule_g(t)                (a list, one schedule per group)

    ``lr_scale`` is an optional key of each param group (default 1): layer-wise LR. Where a
    schedule carries momentum, it is written to SGD's ``momentum`` or Adam's ``betas[0]``.
    The state is the step alone, so a ``state_dict`` round-trip continues bit-identically.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | Mapping[str, Any] | Sequence[Schedule | Mapping[str, Any]],
        last_epoch: int = -1,
    ) -> None:
        groups = optimizer.param_groups
        if isinstance(schedule, Sequence) and not isinstance(schedule, str):
            if len(schedule) != len(groups):
                raise ValueError(
                    f"schedule list has {len(schedule)} entries but the optimizer has "
                    f"{len(groups)} param groups"
                )
            self.schedules = [as_schedule(s, f"schedule[{i}]") for i, s in enumerate(schedule)]
            self.scales = [1.0] * len(groups)
        else:
            one = as_schedule(schedule, "schedule")
            self.schedules = [one] * len(groups)
            self.scales = list(group_scales(groups))
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        t = max(self.last_epoch, 0)
        return [scale * sched(t) for sched, scale in zip(self.schedules, self.scales, strict=True)]

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Advance one step and write the LRs (and momenta) through ``write_groups``."""
        if epoch is not None:
            raise ValueError("ScheduleLR.step takes no epoch; its state is the step count")
        self._step_count += 1
        self.last_epoch += 1
        self._write()

    def _write(self) -> None:
        values = self.get_lr()
        groups = self.optimizer.param_groups
        write_groups(groups, values)
        t = max(self.last_epoch, 0)
        for group, sched in zip(groups, self.schedules, strict=True):
            if sched.momentum is not None:
                write_groups([group], None, sched.momentum(t))
        self._last_lr = values

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "specs": [s.spec for s in self.schedules],
            "scales": list(self.scales),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        specs = state_dict.get("specs")
        if specs is not None and specs != [s.spec for s in self.schedules]:
            raise ValueError(
                "state_dict was saved for other schedules: "
                f"{specs!r} != {[s.spec for s in self.schedules]!r}"
            )
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", self.last_epoch + 1))
        self.scales = [float(s) for s in state_dict.get("scales", self.scales)]
        self._write()
