"""What an integration needs to know of a controller before it attaches it (at the start
of training): its name, and whether it needs probes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autolr.controllers.base import CONTROLLERS, Controller

ControllerSpec = Controller | Mapping[str, Any] | str


def spec_name(spec: ControllerSpec) -> str:
    """The controller's registry name."""
    if isinstance(spec, Controller):
        return spec.name
    return spec if isinstance(spec, str) else str(spec.get("name"))


def needs_probe(spec: ControllerSpec) -> bool:
    """Whether the controller needs probes; an unknown name is an error now (naming the
    known ones), not when training starts."""
    if isinstance(spec, Controller):
        return spec.needs_probe
    name = spec if isinstance(spec, str) else spec.get("name")
    return bool(CONTROLLERS.get(name).needs_probe)
