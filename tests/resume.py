"""Run a session whole, and again cut after some turns, checkpointed and resumed."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import torch


def whole_and_resumed(fresh: Callable[[], Any], turns: int) -> tuple[Any, Any]:
    """``(full, resumed)``: a session from ``fresh()`` run to the end, and another that took
    ``turns`` turns, went through ``state_dict`` and ``torch.save`` (weights only) into a
    third fresh session, and ran to the end from there."""
    full = fresh()
    full.run()
    cut = fresh()
    for _ in range(turns):
        cut.turn()
    buffer = io.BytesIO()
    torch.save(cut.state_dict(), buffer)
    buffer.seek(0)
    resumed = fresh()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    resumed.run()
    return full, resumed
