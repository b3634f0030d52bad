"""Benchmark figures: per-task LR/loss curves (seeds shaded) and performance profiles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autolr.bench.stats import profile
from autolr.running.plots import pyplot, save, smooth

if TYPE_CHECKING:
    from autolr.bench.analysis import TaskReport


def _band(ax: object, curves: list[np.ndarray], color: str, label: str, log: bool) -> None:
    n = min(c.size for c in curves)
    if n == 0:
        return
    stack = np.stack([c[:n] for c in curves])
    x = np.arange(1, n + 1)
    ax.plot(x, np.median(stack, axis=0), color=color, lw=1.2, label=label)  # type: ignore[attr-defined]
    ax.fill_between(x, stack.min(axis=0), stack.max(axis=0), color=color, alpha=0.2)  # type: ignore[attr-defined]
    if log:
        ax.set_yscale("log")  # type: ignore[attr-defined]


def plot_task_curves(rep: TaskReport, out_dir: Path) -> Path | None:
    """One column per method: LR (top) and smoothed training loss (bottom) per kept step.
    None (no figure) when no method finished a run on the task."""
    rows = sorted(
        (r for r in rep.rows.values() if r.curves), key=lambda r: (r.track != "eval", r.method)
    )
    if not rows:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(
        2, len(rows), figsize=(3.0 * len(rows), 5.0), squeeze=False, sharey="row"
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, row in enumerate(rows):
        curves = row.curves
        color = colors[j % len(colors)]
        _band(axes[0, j], [c["lr"] for c in curves], color, row.method, log=True)
        window = max(1, min(c["train_loss"].size for c in curves) // 50)
        _band(
            axes[1, j],
            [smooth(c["train_loss"], window) for c in curves],
            color,
            row.method,
            log=True,
        )
        axes[0, j].set_title(row.method, fontsize=9)
        axes[1, j].set_xlabel("kept step")
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("learning rate")
    axes[1, 0].set_ylabel("train loss (smoothed)")
    fig.suptitle(f"{rep.task}: median over seeds, min–max shaded", fontsize=10)
    path = out_dir / f"curves_{rep.task}.png"
    save(fig, path)
    return path


def plot_profiles(ratios: dict[str, dict[str, float]], path: Path, r_max: float) -> Path:
    """rho(tau): the fraction of tasks a method reaches within tau times the best steps."""
    plt = pyplot()
    taus = np.linspace(1.0, r_max, 301)
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, per_task in sorted(ratios.items()):
        ax.step(taus, profile(per_task, taus), where="post", label=method)
    ax.set_xlabel("τ (steps to target / best method's)")
    ax.set_ylabel("fraction of tasks, ρ(τ)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Performance profiles (AlgoPerf)")
    ax.grid(alpha=0.3)
    if ratios:  # no finished method: an empty plot, and no empty legend to warn about
        ax.legend(fontsize=8)
    save(fig, path)
    return path
