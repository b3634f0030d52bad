"""Which cells this process runs, when other processes run the same suite into one store.

Every cell is claimed (atomically, in the store) right before it starts, never from a list
read at the start: a cell that another process finished or took meanwhile is passed over,
so each cell runs once and the counts a process prints are what it ran itself. A cell that
another live process is running is waited for before ``take`` reports the phase finished,
because the next phase is built from this phase's results (the tuned peaks, the traces to
replay); if its owner dies meanwhile, the cell becomes stale and this process runs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from autolr.bench.cells import Cell
from autolr.bench.store import ResultsStore

# "done"/"failed": run here; "skipped": done before we looked; "elsewhere": run (or failed)
# by another process while this one was running the phase
Progress = Callable[[Cell, str], None]
POLL_S = 1.0
log = logging.getLogger(__name__)


class CellQueue:
    """Hands out the cells of one phase that this process claims, in suite order."""

    def __init__(
        self,
        store: ResultsStore,
        cells: Sequence[Cell],
        progress: Progress | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.store = store
        self.note: Progress = progress or (lambda cell, status: None)
        self.poll_s = poll_s
        self.failed: list[str] = []
        self._queue = list(cells)
        self._held: list[Cell] = []  # running under another live owner when last looked at
        self._waited: set[str] = set()
        self._owners: set[str] = set()  # of the held cells; named once, when waiting starts
        self._told = False
        self._last_look = time.monotonic()

    @property
    def waiting(self) -> bool:
        """Whether cells that other processes are running remain to be resolved."""
        return bool(self._held)

    def take(self, block: bool = True) -> Cell | None:
        """The next cell this process has claimed; None when no cell is left to claim (with
        ``block``: when every cell is resolved, waiting for other processes' runs)."""
        while True:
            cell = self._claim_next()
            if cell is not None:
                return cell
            if not self._held:
                return None
            if not self._told:
                # other hosts' owners count as alive (no heartbeat): say whom we wait for
                self._told = True
                log.warning(
                    "waiting for %d cell(s) that other processes are running: %s",
                    len(self._held),
                    ", ".join(sorted(self._owners)),
                )
            due = self._last_look + self.poll_s
            now = time.monotonic()
            if now < due:
                if not block:
                    return None
                time.sleep(due - now)
            self._waited.update(c.key for c in self._held)
            self._queue, self._held = self._held, []
            self._last_look = time.monotonic()

    def _claim_next(self) -> Cell | None:
        while self._queue:
            cell = self._queue.pop(0)
            if self.store.claim(cell.row()):
                return cell
            status, owner = self.store.status([cell.key]).get(cell.key, ("", ""))
            if status == "running":
                self._held.append(cell)
                self._owners.add(owner)
            elif status == "done" and cell.key not in self._waited:
                self.note(cell, "skipped")
            else:  # finished or failed by another process during this phase
                self.note(cell, "elsewhere")
        return None

    def record(self, cell: Cell, ok: bool, a: Any, b: Any) -> None:
        """Store a run's outcome: ``(True, summary, curves)`` or ``(False, traceback, _)``."""
        if ok:
            mine = self.store.finish(cell.key, a, b)
            status = "done"
        else:
            mine = self.store.fail(cell.key, a)
            status = "failed"
            if mine:
                self.failed.append(cell.key)
        # not mine: another process judged this one dead and took the cell over
        self.note(cell, status if mine else "elsewhere")
