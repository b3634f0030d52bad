"""The search space of a fit: the free parameters as one vector, with bounds and a grid.

Everything here is in unit-LR space (every LR divided by the largest LR of the runs), so
one grid serves every task. Scale parameters (A, B, C) are searched on a log scale; A is
set from the data at each grid point (the pure power law through the median point).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autolr.laws.data import Curve
from autolr.laws.forms import Form

LOG_SCALED = ("A", "B", "C")


@dataclass
class Prepared:
    """A run ready to fit: unit LRs, its window means and their rows, its peak and window."""

    curve: Curve
    lrs: torch.Tensor
    rows: torch.Tensor
    target: torch.Tensor
    peak: int
    window: int


class SearchSpace:
    """The free parameters as an L-BFGS-B vector z (log for scale parameters), with their
    bounds and starting grid, all in unit-LR space (LRs divided by ``r``). ``held`` are
    given in the LR's own units, like every parameter a user sees."""

    def __init__(
        self, form: Form, free: list[str], held: dict[str, float], data: list[Prepared], r: float
    ):
        self.form, self.free, self.held, self.r = form, free, held, r
        means = np.concatenate([d.target.numpy() for d in data])
        self.lo, self.hi = float(means.min()), float(means.max())
        self.steps = max(len(d.curve) for d in data)
        self.data = data
        box = {
            "L0": (0.0, self.hi),
            "A": (1e-10 * self.hi, 1e12 * self.hi),
            "alpha": (1e-3, 5.0),
            "B": (1e-10 * self.hi, 1e3 * self.hi),
            "C": (1e-8, 1e6) if form.name == "mpl" else (1e-12 * self.hi, 10.0 * self.hi),
            "beta": (1e-3, 20.0),
            "gamma": (0.0, 3.0),
            "lam": (0.5, 0.99999),
        }
        self.bounds = [
            tuple(math.log(b) for b in box[n]) if n in LOG_SCALED else box[n] for n in free
        ]

    def params(self, z: np.ndarray | torch.Tensor) -> dict[str, Any]:
        """Every parameter in unit-LR space: the free ones from z, the held ones converted
        (their conversion reads only alpha and gamma, which no LR unit changes)."""
        free: dict[str, Any] = {}
        for i, name in enumerate(self.free):
            v = z[i] if torch.is_tensor(z) else float(z[i])
            if name in LOG_SCALED:
                v = torch.exp(v) if torch.is_tensor(v) else math.exp(v)
            free[name] = v
        return {**self.held_in_units(free), **free}

    def held_in_units(self, free: dict[str, Any]) -> dict[str, Any]:
        if not self.held:
            return {}
        placeholders = {n: 1.0 for n in self.form.names}
        unit = self.form.to_unit({**placeholders, **self.held, **free}, self.r)
        return {n: unit[n] for n in self.held}

    def grid(self) -> list[np.ndarray]:
        """Grid points in z; A is set from the data for each (L0, alpha)."""
        axes: dict[str, list[float]] = {
            "L0": [f * self.lo for f in (0.2, 0.6, 0.9)],
            "alpha": [0.3, 0.6, 1.0],
            "B": [f * self.lo for f in (0.1, 0.5)],
            "C": [c / self.steps for c in (30.0, 300.0, 3000.0)],
            "beta": [0.5, 1.0],
            "gamma": [0.3, 0.6],
            "lam": [0.99, 0.999],
        }
        if self.form.name == "tissue":
            axes["C"] = [f * self.lo for f in (0.03, 0.1, 0.3)]  # per unit of S2, set below
        names = [n for n in self.free if n != "A"]
        out = []
        for values in itertools.product(*(axes[n] for n in names)):
            p = dict(zip(names, values, strict=True))
            p = {**self.held_in_units(p), **p}
            if self.form.name == "tissue" and "C" in names:
                p["C"] = p["C"] / max(self._s2_max(p.get("lam", 0.999)), 1e-12)
            if "A" in self.free:
                p["A"] = self._scale_a(p["L0"], p["alpha"])
            z = [math.log(p[n]) if n in LOG_SCALED else p[n] for n in self.free]
            out.append(np.clip(z, [b[0] for b in self.bounds], [b[1] for b in self.bounds]))
        return out

    def _scale_a(self, l0: float, alpha: float) -> float:
        """The A that puts the pure power law through the median point above L0."""
        ratios = []
        for d in self.data:
            area = torch.cumsum(d.lrs, 0)[d.rows].numpy()
            y = d.target.numpy()
            ok = (y > l0) & (area > 0)
            ratios.extend(((y[ok] - l0) * area[ok] ** alpha).tolist())
        return float(np.median(ratios)) if ratios else self.hi

    def _s2_max(self, lam: float) -> float:
        lam_t = torch.tensor(lam, dtype=torch.float64)
        p = {"L0": 0.0, "A": 0.0, "alpha": 1.0, "C": -1.0, "lam": lam_t}  # L = S2
        with torch.no_grad():
            return max(float(self.form.curve(p, d.lrs, d.rows[-1:], d.peak)[0]) for d in self.data)
