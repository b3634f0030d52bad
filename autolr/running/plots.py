"""Plots that people would rather look at than read (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autolr.running.io import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only: no display is needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    pyplot().close(fig)


def plot_schedules(path: Path, steps: np.ndarray, labelled: Sequence[tuple[str, Any]]) -> None:
    """Overlay schedules (LR on top; momentum below when any schedule carries one)."""
    plt = pyplot()
    with_mom = any(s.momentum is not None for _, s in labelled)
    fig, axes = plt.subplots(
        2 if with_mom else 1, 1, figsize=(8, 6 if with_mom else 4), sharex=True
    )
    ax_lr = axes[0] if with_mom else axes
    for label, s in labelled:
        ax_lr.plot(steps, s.values(steps), label=label)
        if with_mom and s.momentum is not None:
            axes[1].plot(steps, s.momentum.values(steps), label=label)
    ax_lr.set_ylabel("learning rate")
    ax_lr.legend(fontsize=8)
    ax_lr.grid(alpha=0.3)
    if with_mom:
        axes[1].set_ylabel("momentum")
        axes[1].grid(alpha=0.3)
    (axes[-1] if with_mom else ax_lr).set_xlabel("step")
    save(fig, path)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """A moving mean over ``window`` values, the same length as ``values``: the first
    ``window - 1`` entries average what exists so far; unchanged if ``window <= 1``."""
    if values.size < window or window <= 1:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_run(history: Any, info: Any, out_dir: Path) -> None:
    """lr.png (LR per kept step) and loss.png (training loss, validation loss and metric)."""
    plt = pyplot()
    steps = history.step_array("step")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, history.step_array("lr"), lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(f"{info.name}: learning rate")
    ax.grid(alpha=0.3)
    save(fig, out_dir / "lr.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    loss = history.step_array("train_loss")
    ax.plot(steps, loss, color="tab:blue", alpha=0.25, lw=0.8)
    ax.plot(steps, smooth(loss, max(1, loss.size // 50)), color="tab:blue", label="train loss")
    ev = history.eval_array("step")
    if ev.size:
        ax.plot(
            ev, history.eval_array("val_loss"), "o-", color="tab:orange", ms=3, label="val loss"
        )
        ax2 = ax.twinx()
        ax2.plot(
            ev,
            history.eval_array("val_metric"),
            "s--",
            color="tab:green",
            ms=3,
            label=f"val {info.metric}",
        )
        ax2.axhline(info.target, color="tab:green", ls=":", lw=1)
        ax2.set_ylabel(f"val {info.metric} (dotted: target)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{info.name}: loss")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    save(fig, out_dir / "loss.png")


def plot_range_test(path: Path, result: Any, title: str) -> None:
    """Smoothed loss against log LR, with both suggestions marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    k = result.smoothed.size
    ax.plot(result.lrs[:k], result.losses[:k], color="tab:blue", alpha=0.3, lw=0.8, label="loss")
    ax.plot(result.lrs[:k], result.smoothed, color="tab:blue", label="smoothed loss")
    ax.axvline(result.steepest, color="tab:red", ls="--", label=f"steepest {result.steepest:.3g}")
    ax.axvline(result.valley, color="tab:green", ls="--", label=f"valley {result.valley:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(f"LR range test: {title}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save(fig, path)
