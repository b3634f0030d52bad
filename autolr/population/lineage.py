"""A population's accounts, from its members' logs (``autolr.population.member``).

A log line of kind ``train`` is one stretch a member trained: kept steps ``(start, end]``,
the steps it charged and the seconds it took; one of kind ``restore`` says the member was
restarted from a checkpoint (``from``: the trial that wrote it; another trial's is an
exploit). Nothing here needs Ray.

- Charged steps: every stretch of every member, so steps a member trains again after it
  restored a checkpoint are charged twice (``charged``).
- The population's charged steps at lineage step ``s``: each stretch's charged steps times
  the fraction of its kept range at or below ``s`` (``charged_at``). With ``synch`` the
  members train in lockstep, so this is what the whole population had spent when the
  selected lineage stood at step ``s``: what its steps to target are counted in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Accounts:
    """The members' stretches and restores, read from a cell's log folder."""

    stretches: list[dict[str, Any]]
    restores: list[dict[str, Any]]

    @classmethod
    def read(cls, folder: Path) -> Accounts:
        lines = [
            json.loads(line)
            for path in sorted(folder.glob("*.jsonl"))
            for line in path.read_text().splitlines()
            if line.strip()
        ]
        return cls(
            [r for r in lines if r["kind"] == "train"],
            [r for r in lines if r["kind"] == "restore"],
        )

    @property
    def charged(self) -> int:
        """Every step every member charged."""
        return int(sum(r["charged"] for r in self.stretches))

    @property
    def seconds(self) -> float:
        """Every member's training and evaluation seconds, added up."""
        return float(sum(r["seconds"] for r in self.stretches))

    @property
    def exploits(self) -> list[dict[str, Any]]:
        """Restores from another member's checkpoint (a restore of one's own after a pause
        is none)."""
        return [r for r in self.restores if r["from"] != r["trial"]]

    def charged_at(self, steps: Sequence[float]) -> np.ndarray:
        """The population's charged steps at each lineage step (see the module)."""
        return self._spread(steps, "charged")

    def seconds_at(self, steps: Sequence[float]) -> np.ndarray:
        """The population's seconds at each lineage step, as ``charged_at``."""
        return self._spread(steps, "seconds")

    def _spread(self, steps: Sequence[float], key: str) -> np.ndarray:
        s = np.asarray(steps, dtype=np.float64)
        out = np.zeros_like(s)
        for r in self.stretches:
            start, end = float(r["start"]), float(r["end"])
            if end > start:
                out += r[key] * np.clip((s - start) / (end - start), 0.0, 1.0)
            else:  # a stretch with no kept step (rolled back): charged once it happened
                out += r[key] * (s >= end)
        return out

    def members(self) -> dict[str, dict[str, Any]]:
        """Per trial: its last stretch's kept step, LR, validation metric and why its run
        ended early (None: it did not), its charged steps and exploits."""
        out: dict[str, dict[str, Any]] = defaultdict(lambda: {"charged": 0, "exploits": 0})
        for r in self.stretches:
            m = out[r["trial"]]
            m.update(step=r["end"], lr=r["lr"], val_metric=r["val_metric"], ended=r["ended"])
            m["charged"] += r["charged"]
        for r in self.exploits:
            out[r["trial"]]["exploits"] += 1
        return {k: dict(v) for k, v in sorted(out.items())}
