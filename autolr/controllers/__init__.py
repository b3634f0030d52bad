"""Controllers: the ask/tell contract, the registry and the built-ins.

Built-ins: ``fixed``, ``plateau``, ``greedy``, ``hypergradient``. The search and agent
controllers register lazily by name, so importing autolr never imports them.
"""

from autolr.controllers.base import CONTROLLERS, Controller, build_controller
from autolr.controllers.fixed import Fixed
from autolr.controllers.greedy import Greedy
from autolr.controllers.hypergradient import Hypergradient
from autolr.controllers.plateau import Plateau, PlateauRule

# Registered by name, imported on first use: autolr never imports search/ or agents/ itself.
for _name, _target in {
    "autolrs": "search.autolrs:AutoLRS",
    "optuna": "search.optuna_segments:OptunaController",
    "rl": "agents.rl:RLController",
    "meta": "agents.meta:MetaController",
}.items():
    CONTROLLERS.add(_name, _target)

__all__ = [
    "CONTROLLERS",
    "Controller",
    "Fixed",
    "Greedy",
    "Hypergradient",
    "Plateau",
    "PlateauRule",
    "build_controller",
]
