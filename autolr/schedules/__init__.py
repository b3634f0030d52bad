"""Learning-rate schedules as pure float64 functions of the step.

Build one by name (``build({"name": "cosine", "lr": 0.1, "total_steps": 1000})``) or with the
same-named function (``cosine(lr=0.1, total_steps=1000)``). Every family is listed in
``SCHEDULES``; ``docs/schedules.md`` gives each formula.
"""

from autolr.schedules.annealing import cosine, cosine_restarts, linear, polynomial, tanh
from autolr.schedules.anytime import infinite, wsm
from autolr.schedules.base import SCHEDULES, Schedule, build
from autolr.schedules.basic import (
    constant,
    exponential,
    multistep,
    piecewise,
    piecewise_linear,
    step,
)
from autolr.schedules.combinators import clamp, join, noise, scale, shift, warmup
from autolr.schedules.cyclical import cyclic, one_cycle
from autolr.schedules.torch_adapter import ScheduleLR
from autolr.schedules.transformer import inverse_sqrt, noam, wsd

__all__ = [
    "SCHEDULES",
    "Schedule",
    "ScheduleLR",
    "build",
    "clamp",
    "constant",
    "cosine",
    "cosine_restarts",
    "cyclic",
    "exponential",
    "infinite",
    "inverse_sqrt",
    "join",
    "linear",
    "multistep",
    "noam",
    "noise",
    "one_cycle",
    "piecewise",
    "piecewise_linear",
    "polynomial",
    "scale",
    "shift",
    "step",
    "tanh",
    "warmup",
    "wsd",
    "wsm",
]
