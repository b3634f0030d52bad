"""Search controllers: ``autolrs`` (BO on the fly), ``optuna`` (segment search), ``autolr tune``.

``search.AutoLRS`` is the controller; ``search.AutoLRSLoop`` runs it in your own loop around
a ``train_step`` closure. Imports are lazy, so ``import search`` does not load BoTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "AutoLRS": "search.autolrs:AutoLRS",
    "AutoLRSLoop": "search.dropin:AutoLRSLoop",
    "OptunaController": "search.optuna_segments:OptunaController",
    "tune": "search.tune:tune",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
