"""Name -> object registries that resolve lazily.

`autolr` must not import `agents`, `search` or `tasks` at import time, nor name their
contents: a registry reads its entry-point group (``autolr.entrypoints``) on first lookup,
and an entry (a lazy ``"module:attr"`` string or an entry point) is imported on first use.
Modules named in ``$AUTOLR_PLUGINS`` may also register names in code.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from autolr.entrypoints import Declared, EntryPointError, missing_group_hint
from autolr.entrypoints import declared as declared_in

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
    """Maps names to objects; an entry may be a lazy ``"module:attr"`` string.

    With a ``group``, the installed packages' entry points of that group (see
    ``autolr.entrypoints``) join the registry on its first lookup, each imported only when
    its name is used. ``shipped`` says autolr's own metadata declares that group, so an empty
    group means stale metadata (a checkout pulled without reinstalling), which a lookup
    reports. A name added in code before the first lookup hides an entry point of that
    name; added after it, it is a duplicate like any other.
    """

    def __init__(self, kind: str, group: str | None = None, shipped: bool = False) -> None:
        self.kind = kind
        self.group = group
        self.shipped = shipped
        self._entries: dict[str, T | str | Declared] = {}
        self._scanned = group is None
        self._clashes: dict[str, list[Declared]] = {}
        self._resolving: str | None = None
        self._found_any = False
        self._declared: dict[str, Declared] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T | str) -> None:
        current = self._entries.get(name, obj)
        # an entry point's module may register its own name while it is being loaded
        if current is not obj and name != self._resolving:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def _scan(self) -> None:
        if self._scanned or self.group is None:
            return
        self._scanned = True
        found, self._clashes = declared_in(self.group)
        self._found_any = bool(found)
        for name, item in found.items():
            if self._entries.setdefault(name, item) is item:
                self._declared[name] = item

    def get(self, name: Any) -> T:
        if not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a string, got {name!r}")
        self._scan()
        if name not in self._entries:
            load_plugins()
        if name not in self._entries:
            known = ", ".join(sorted(self._entries))
            stale = self.stale_hint()
            raise ValueError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, list(self._entries))}; "
                f"known: {known}" + (f"; {stale}" if stale else "")
            )
        if name in self._clashes:
            both = "; ".join(d.describe() for d in self._clashes[name])
            raise EntryPointError(f"{self.kind} {name!r} is declared differently: {both}")
        entry = self._entries[name]
        if isinstance(entry, str | Declared):
            entry = self._resolve(name, entry)
        return entry  # type: ignore[return-value]

    def _resolve(self, name: str, entry: str | Declared) -> T:
        previous, self._resolving = self._resolving, name
        try:
            if isinstance(entry, Declared):
                obj = entry.load()
            else:
                module, _, attr = entry.partition(":")
                try:
                    obj = getattr(importlib.import_module(module), attr)
                except (ImportError, AttributeError) as err:
                    raise ValueError(
                        f"{self.kind} {name!r} could not be loaded from {module}: {err}"
                    ) from None
        finally:
            self._resolving = previous
        self._entries[name] = obj
        return obj  # type: ignore[no-any-return]

    def stale_hint(self) -> str:
        """Advice when a shipped group has no entry points (stale metadata), else ''."""
        self._scan()
        if not self.shipped or self.group is None:
            return ""
        return "" if self._found_any else missing_group_hint(self.group)

    def entry_point(self, name: str) -> Declared | None:
        """The entry point behind ``name`` (None for a name added in code)."""
        self._scan()
        return self._declared.get(name)

    def names(self) -> list[str]:
        self._scan()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._scan()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
