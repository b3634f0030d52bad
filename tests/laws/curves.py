"""Synthetic runs for the law tests: a known law's curve with multiplicative noise."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from autolr.laws import Law
from autolr.schedules import build

PEAK = 0.01
MPL = {"L0": 2.0, "A": 0.5, "alpha": 0.5, "B": 30.0, "C": 2.0, "beta": 0.6, "gamma": 0.5}
TISSUE = {"L0": 2.0, "A": 0.5, "alpha": 0.5, "C": 0.2, "lam": 0.999}


def fit_specs(steps: int) -> dict[str, dict]:
    """The papers' fitting set: constant, cosine and a two-stage run (x0.1 at 70%)."""
    warm = steps // 20
    return {
        "constant": {"name": "constant", "lr": PEAK, "warmup_steps": warm},
        "cosine": {"name": "cosine", "lr": PEAK, "total_steps": steps, "warmup_steps": warm},
        "two-stage": {
            "name": "multistep",
            "lr": PEAK,
            "milestones": [int(0.7 * steps)],
            "gamma": 0.1,
            "warmup_steps": warm,
        },
    }


def noisy_runs(
    law: Law, steps: int, noise: float = 0.002, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, spec in fit_specs(steps).items():
        lrs = build(spec).values(np.arange(steps))
        out[name] = (lrs, law.curve(lrs) * np.exp(rng.normal(0.0, noise, steps)))
    return out


def write_metrics(folder: Path, lrs: np.ndarray, losses: np.ndarray) -> Path:
    """A metrics.csv as ``autolr run`` writes it: an evaluation row at step 0, then one row
    per step."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metrics.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "charged", "lr", "train_loss", "val_loss", "val_metric"])
        writer.writerow([0, 0, "", "", "3.0", "0.1"])
        for j, (lr, loss) in enumerate(zip(lrs, losses, strict=True)):
            writer.writerow([j + 1, j + 1, repr(float(lr)), repr(float(loss)), "", ""])
    return folder
