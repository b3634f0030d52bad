"""Import an optional library, or fail with the pip command of the extra that brings it."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An integration's library is not installed."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """``importlib.import_module(module)``; if it is missing, MissingExtra naming ``what``
    needs it and ``pip install 'autolr[extra]'``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        # only the library itself missing is ours to explain; a broken install is not
        top = module.split(".")[0]
        if err.name is None or err.name.split(".")[0] != top:
            raise
        raise MissingExtra(
            f"{what} needs the {top!r} package, which is not installed: "
            f"pip install 'autolr[{extra}]'"
        ) from err
