"""The validation numbers an integration hands to ``Handle.evaluated``, picked by name from
the metrics its framework logged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def validation_numbers(
    metrics: Mapping[str, Any],
    val_loss: str | None,
    val_metric: str | None,
    missing: Callable[[str, str], str],
) -> dict[str, float | None]:
    """``{"val_loss": ..., "val_metric": ...}`` from ``metrics`` by the names given (None for
    a name that is None). A name not among ``metrics`` is a ValueError whose message is
    ``missing(field, name)``."""
    values: dict[str, float | None] = {}
    for field, key in (("val_loss", val_loss), ("val_metric", val_metric)):
        if key is None:
            values[field] = None
        elif key not in metrics:
            raise ValueError(missing(field, key))
        else:
            values[field] = float(metrics[key])
    return values
