"""Figures of laws: LR on top, loss below; predicted curves as lines, actual losses as dots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autolr.running.plots import pyplot, save


@dataclass
class Line:
    """One schedule: its per-step LRs, the law's curve, and optionally a run's actual losses
    (``rows``: 0-based steps, ``actual``: the window means there)."""

    label: str
    lrs: np.ndarray
    predicted: np.ndarray
    rows: np.ndarray | None = None
    actual: np.ndarray | None = None


def plot_lines(path: Path, lines: Sequence[Line], title: str = "") -> None:
    plt = pyplot()
    fig, (ax_lr, ax_loss) = plt.subplots(
        2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [1, 2]}
    )
    for i, line in enumerate(lines):
        color = f"C{i % 10}"
        steps = np.arange(1, len(line.lrs) + 1)
        ax_lr.plot(steps, line.lrs, color=color, label=line.label)
        ok = np.isfinite(line.predicted)
        ax_loss.plot(steps[ok], line.predicted[ok], color=color, label=f"{line.label}: law")
        if line.actual is not None and line.rows is not None:
            ax_loss.plot(
                line.rows + 1,
                line.actual,
                ".",
                color=color,
                ms=3,
                alpha=0.6,
                label=f"{line.label}: actual",
            )
    ax_lr.set_ylabel("learning rate")
    ax_lr.legend(fontsize=8)
    ax_lr.grid(alpha=0.3)
    ax_loss.set_ylabel("train loss")
    ax_loss.set_xlabel("step")
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    shown = [ln.predicted[len(ln.predicted) // 20 :] for ln in lines]  # past the first 5%
    shown += [ln.actual for ln in lines if ln.actual is not None]
    values = np.concatenate(shown) if shown else np.array([])
    values = values[np.isfinite(values)]
    if values.size:  # the first steps' loss dwarfs the rest: frame the bulk of the curves
        lo, hi = np.percentile(values, [1, 99])
        if lo > 0 and hi / lo > 10:
            ax_loss.set_yscale("log")
            ax_loss.set_ylim(lo / 1.2, hi * 1.2)
        else:
            pad = 0.05 * max(hi - lo, 1e-12)
            ax_loss.set_ylim(lo - pad, hi + pad)
    if title:
        fig.suptitle(title, fontsize=10)
    save(fig, path)
