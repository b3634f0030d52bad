"""A collapse guard: stop a segment that undoes most of the training's progress.

A network driven into collapse by too high an LR (dead ReLUs, a saturated softmax) does not
produce a NaN or a loss spike: its loss climbs back to the untrained level and stays there.
The session's divergence check misses that, so a segment may carry ``undo``: the fraction of
the progress made so far that it may give back before the session rolls it back.
"""

from __future__ import annotations

import math
from collections import deque

from autolr.checks import check_range

MIN_PROGRESS = 0.1  # the guard waits until the loss is 10% below where it started


def check_undo(undo: float | None) -> float | None:
    return None if undo is None else check_range("undo", undo, 0.0, 1.0, low_open=True)


class CollapseGuard:
    """Trips when the mean loss over the last ``window`` steps rises above

        low + undo * (first - low),

    where ``first`` is the loss the run started from (NaN: this segment's first window) and
    ``low`` the lowest loss level seen: the best interval mean before the segment, or any
    full window's mean inside it. It stays
    idle until ``low < (1 - MIN_PROGRESS) * first``, so the noise of a run that has not yet
    learned never trips it.
    """

    def __init__(self, undo: float, first: float, best: float, window: int) -> None:
        self.undo, self.first, self.low = undo, first, best
        self.window = max(1, window)
        self._recent: deque[float] = deque()
        self._sum = 0.0

    def update(self, loss: float) -> bool:
        """Add one step's loss; True when the segment should be rolled back."""
        self._recent.append(loss)
        self._sum += loss
        if len(self._recent) > self.window:
            self._sum -= self._recent.popleft()
        if len(self._recent) < self.window:
            return False
        mean = self._sum / self.window
        if not math.isfinite(self.first):  # the run's first segment: it starts here
            self.first = mean
        if mean < self.low:
            self.low = mean
            return False
        if self.low > (1.0 - MIN_PROGRESS) * self.first:
            return False
        return mean > self.low + self.undo * (self.first - self.low)
