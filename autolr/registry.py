"""Name -> object registries that resolve lazily.

`autolr` must not import `agents`, `search` or `tasks` at import time, so a registry can hold
an entry as a string ``"module:attr"`` that is imported on first use.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ' (did you mean ...?)' suffix for an error message, or ''."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_known(what: str, params: Iterable[str], accepted: Iterable[str]) -> None:
    """Raise for the first of ``params`` not in ``accepted``, naming it (``what``: e.g.
    "schedule 'cosine'"), with a did-you-mean suggestion and the accepted names."""
    accepted = list(accepted)
    for key in params:
        if key not in accepted:
            raise ValueError(
                f"unknown parameter {key!r} for {what}{did_you_mean(key, accepted)}; "
                f"accepted: {', '.join(accepted)}"
            )


PLUGINS_ENV = "AUTOLR_PLUGINS"
_loaded_plugins: set[str] = set()


def load_plugins() -> None:
    """Import the modules named in ``$AUTOLR_PLUGINS`` (comma-separated), once each.

    A plugin module registers its own tasks, controllers or schedules at import, so that
    ``autolr run``, ``autolr bench`` and their worker processes can find them by name.
    """
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        if module not in _loaded_plugins:
            _loaded_plugins.add(module)
            try:
                importlib.import_module(module)
            except ImportError as err:
                raise ValueError(
                    f"cannot import plugin {module!r} from ${PLUGINS_ENV}: {err}"
                ) from None


class Registry(Generic[T]):
    """Maps names to objects; an entry may be a lazy ``"module:attr"`` string."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T | str) -> None:
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: Any) -> T:
        if not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a string, got {name!r}")
        if name not in self._entries:
            load_plugins()
        if name not in self._entries:
            known = ", ".join(sorted(self._entries))
            raise ValueError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, list(self._entries))}; "
                f"known: {known}"
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            try:
                entry = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as err:
                raise ValueError(
                    f"{self.kind} {name!r} could not be loaded from {module}: {err}"
                ) from None
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
