"""Controllers: the ask/tell contract, the registry and the built-ins.

Built-ins: ``auto``, ``fixed``, ``plateau``, ``greedy``, ``hypergradient``, ``lr_finder``.
The search and agent controllers (and third parties') are entry points of the ``autolr.controllers``
group, declared by their own packages and imported on first use, so autolr never names them.
"""

from autolr.controllers.auto import Auto
from autolr.controllers.base import CONTROLLERS, Controller, build_controller
from autolr.controllers.fixed import Fixed
from autolr.controllers.greedy import Greedy
from autolr.controllers.hypergradient import Hypergradient
from autolr.controllers.lr_finder import LRFinder
from autolr.controllers.plateau import Plateau, PlateauRule

__all__ = [
    "CONTROLLERS",
    "Auto",
    "Controller",
    "Fixed",
    "Greedy",
    "Hypergradient",
    "LRFinder",
    "Plateau",
    "PlateauRule",
    "build_controller",
]
