"""autolr: automatic learning-rate scheduling for PyTorch.

Public entry points (imported lazily, so ``import autolr`` stays cheap):

- ``autolr.run(config, out=...)``: one configured run (``autolr run``);
- ``autolr.attach(optimizer, controller, interval, budget_steps, train_step=...)``: a
  controller in your own loop (``train_step`` lets probing controllers such as ``auto``
  probe there);
- ``autolr.find_lr(task)``: the LR range test (``autolr find-lr``);
- ``autolr.Session``, ``autolr.Segment``, ``autolr.Controller``, ``autolr.schedules``;
- ``autolr.laws``: loss-curve laws (``autolr.laws.fit(runs)``; ``autolr law``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run": "autolr.running.runner:run",
    "RunResult": "autolr.running.runner:RunResult",
    "attach": "autolr.loop.attach:attach",
    "find_lr": "autolr.running.find_lr:find_lr",
    "Session": "autolr.loop.session:Session",
    "Segment": "autolr.loop.segment:Segment",
    "TrainingState": "autolr.loop.state:TrainingState",
    "Controller": "autolr.controllers.base:Controller",
    "build_controller": "autolr.controllers.base:build_controller",
    "make_task": "autolr.loop.trainee:make_task",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in ("schedules", "laws"):
        return importlib.import_module(f"autolr.{name}")
    raise AttributeError(f"module 'autolr' has no attribute {name!r}")
