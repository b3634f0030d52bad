"""Benchmark figures, built as matplotlib figures (the report saves them):

- ``curves_figure``: per task, LR, training loss and validation metric over charged steps,
  for the methods a reader compares (the best tuned baseline, untuned defaults, peers and
  every controller), each a median line over seeds with its min–max band;
- ``detail_figure``: per task, one small LR panel over a loss panel per method, every
  tuned baseline and replay included, wrapped into rows;
- ``per_corpus_figure``: for a task that records per-corpus numbers (continual-lm), each
  corpus's validation curve per method;
- ``profiles_figure``: the performance profiles across tasks.

Every figure draws a method in its ``autolr.bench.styles`` style, so a method looks the
same everywhere in a report. Each median line carries the method's label (``get_label``),
which is how the tests find it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from autolr.bench.analysis import row_order
from autolr.bench.standings import best_tuned
from autolr.bench.stats import profile
from autolr.bench.styles import Style
from autolr.running.plots import pyplot, smooth

if TYPE_CHECKING:
    from autolr.bench.analysis import Row, TaskReport

BAND = "min–max over seeds"
MAX_POINTS = 2000  # a median line's points at most (a long run is thinned evenly)
MARKS = 8  # markers per line: enough to tell lines apart in greyscale, few enough to read
X_LABEL = "charged steps"
COLUMNS = 4  # panels per row of the detail figure


@dataclass(frozen=True)
class Band:
    """The median over seeds and the min–max band, on the grid ``x``."""

    x: np.ndarray
    median: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def seed_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> Band | None:
    """Seeds' curves, each ``(x, y)`` with x increasing, on one grid: the union of the
    seeds' x values over the range every seed covers, each curve linearly interpolated onto
    it (seeds that share their x values are taken as they are), thinned to ``MAX_POINTS``.
    Non-finite values are left out of the median and band at their x. None: no points."""
    pairs = [(np.asarray(x, float), np.asarray(y, float)) for x, y in curves]
    pairs = [(x[: y.size], y[: x.size]) for x, y in pairs if min(x.size, y.size)]
    if not pairs:
        return None
    lo_x, hi_x = max(x[0] for x, _ in pairs), min(x[-1] for x, _ in pairs)
    grid = np.unique(np.concatenate([x for x, _ in pairs]))
    grid = grid[(grid >= lo_x) & (grid <= hi_x)]
    if grid.size == 0:
        return None
    if grid.size > MAX_POINTS:
        grid = grid[np.linspace(0, grid.size - 1, MAX_POINTS).round().astype(int)]
    stack = np.stack([np.interp(grid, x, np.where(np.isfinite(y), y, np.nan)) for x, y in pairs])
    with warnings.catch_warnings():  # an x where every seed is non-finite stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return Band(grid, np.nanmedian(stack, 0), np.nanmin(stack, 0), np.nanmax(stack, 0))


def _draw(ax: Any, band: Band | None, method: str, style: Style) -> Any:
    """The median line (labelled ``method``) and its band; the Line2D, or None."""
    if band is None:
        return None
    every = max(1, band.x.size // MARKS)
    (line,) = ax.plot(
        band.x, band.median, lw=1.4, ms=4, markevery=every, label=method, **style.kwargs()
    )
    ax.fill_between(band.x, band.lo, band.hi, color=style.color, alpha=0.15, lw=0)
    return line


# a panel: its y label and how to get one seed's (x, y) from the run's curves
Panel = tuple[str, Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]]


def _lr(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return c["step_charged"], c["lr"]


def _train_loss(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    loss = c["train_loss"]
    return c["step_charged"], smooth(loss, max(1, loss.size // 50))


def _val_metric(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return c["eval_charged"], c["eval_metric"]


LR_PANEL: Panel = ("learning rate", _lr)
LOSS_PANEL: Panel = ("train loss (smoothed)", _train_loss)


def _line_values(axes: list[Any]) -> np.ndarray:
    """The finite y values of the lines drawn on ``axes`` (the medians, not the bands)."""
    ys = [np.asarray(line.get_ydata(), float) for ax in axes for line in ax.get_lines()]
    y = np.concatenate(ys) if ys else np.array([])
    return y[np.isfinite(y)]


def _log_if_positive(axes: list[Any], span: float = 1.0) -> None:
    """Log y scale on ``axes`` when every finite plotted value is positive and the largest
    is at least ``span`` times the smallest."""
    y = _line_values(axes)
    if y.size and y.min() > 0 and y.max() >= span * y.min():
        for ax in axes:
            ax.set_yscale("log")


def _fit_to_lines(ax: Any) -> None:
    """The y range of the panel's median lines (padded), so that one method's wide band (a
    seed that diverged to 100x the others) does not flatten every other curve; the bands
    are cut at the panel's edge."""
    y = _line_values([ax])
    if not y.size or y.min() == y.max():
        return
    lo, hi = float(y.min()), float(y.max())
    if ax.get_yscale() == "log" and lo > 0:
        pad = (hi / lo) ** 0.05
        ax.set_ylim(lo / pad, hi * pad)
    else:
        pad = 0.05 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)


def overlay_rows(rep: TaskReport) -> list[Row]:
    """What the curves figure overlays: the best tuned baseline, then the untuned defaults,
    the peers and the controllers (not the other tuned baselines, nor replays)."""
    best = best_tuned(rep)
    rows = [best] if best is not None and best.curves else []
    rows += sorted(
        (r for r in rep.rows.values() if r.track in ("default", "peer", "self") and r.curves),
        key=lambda r: row_order(r.track, r.method),
    )
    return rows


def curves_figure(rep: TaskReport, styles: Mapping[str, Style], names: Mapping[str, str]) -> Any:
    """The task's curves figure (``overlay_rows``), one panel per quantity over charged
    steps: LR (log scale), smoothed training loss (log scale when positive) and, when the
    runs were evaluated, the validation metric (log scale for a lower-is-better metric
    that spans a decade) with the target dotted. ``names``: each track's name for the
    legend. None when no overlaid method has curves."""
    rows = overlay_rows(rep)
    if not rows:
        return None
    panels = [LR_PANEL, LOSS_PANEL]
    if any(c["eval_charged"].size for r in rows for c in r.curves):
        panels.append((f"validation {rep.metric}", _val_metric))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    handles, target = [], None
    for ax, (ylabel, curve) in zip(axes[0], panels, strict=True):
        for row in rows:
            band = seed_band([curve(c) for c in row.curves])
            line = _draw(ax, band, row.method, styles[row.method])
            if ax is axes[0, 0] and line is not None:
                handles.append(line)
        if curve is _lr:
            ax.set_yscale("log")  # LRs span decades (a warmup from near 0, a decay)
        elif curve is _train_loss:
            _log_if_positive([ax])
        elif not rep.direction.maximize:  # a loss-like metric: log when it spans a decade
            _log_if_positive([ax], span=10.0)
        if curve is not _lr:
            _fit_to_lines(ax)
        if curve is _val_metric and rep.has_target:  # after the scale: not counted in it
            target = ax.axhline(rep.target, color="black", ls=":", lw=1, label="target")
        ax.set_xlabel(X_LABEL)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    labels = [f"{h.get_label()} ({_kind(rep, h.get_label(), names)})" for h in handles]
    if target is not None:
        handles, labels = [*handles, target], [*labels, f"target {rep.metric} {rep.target:.4g}"]
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8)
    fig.suptitle(f"{rep.task}: median over seeds (line), {BAND} (band)", fontsize=10)
    fig.tight_layout()
    return fig


def _kind(rep: TaskReport, method: str, names: Mapping[str, str]) -> str:
    track = rep.rows[method].track
    return "best tuned" if track == "eval" else names.get(track, track)


def detail_figure(rep: TaskReport, styles: Mapping[str, Style]) -> Any:
    """Every method of the task in its own small panels, LR over smoothed training loss,
    ``COLUMNS`` methods to a row; LR panels share their y axis, as do loss panels. None
    when no method has curves."""
    rows = sorted(
        (r for r in rep.rows.values() if r.curves), key=lambda r: row_order(r.track, r.method)
    )
    if not rows:
        return None
    cols = min(COLUMNS, len(rows))
    lines = 2 * math.ceil(len(rows) / cols)  # rows of panels: an LR row over a loss row
    plt = pyplot()
    fig, axes = plt.subplots(lines, cols, figsize=(3.2 * cols, 2.0 * lines), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for i, row in enumerate(rows):
        pair = axes[2 * (i // cols) : 2 * (i // cols) + 2, i % cols]
        for ax, first, (ylabel, curve) in zip(
            pair, axes[:2, 0], (LR_PANEL, LOSS_PANEL), strict=True
        ):
            ax.set_visible(True)
            if ax is not first:
                ax.sharey(first)
            _draw(ax, seed_band([curve(c) for c in row.curves]), row.method, styles[row.method])
            ax.grid(alpha=0.3)
            ax.set_ylabel(ylabel if i % cols == 0 else "", fontsize=8)
        pair[0].set_title(row.method, fontsize=9)
        pair[1].set_xlabel(X_LABEL, fontsize=8)
    for ax in axes[0::2].flat:
        ax.set_yscale("log")
    _log_if_positive(list(axes[1::2].flat))
    for ax in axes.flat:  # after the scale: a log axis's minor labels too
        ax.tick_params(which="both", labelsize=7)
    fig.suptitle(f"{rep.task}: every method, median over seeds (line), {BAND} (band)", fontsize=10)
    fig.tight_layout()
    return fig


def per_corpus_figure(rep: TaskReport, styles: Mapping[str, Style]) -> Any:
    """For a task whose runs record per-corpus numbers (continual-lm): one panel per corpus,
    its validation bits per byte over kept steps (where the stream switches corpora: dotted
    lines at the phases' starts), for every method but the replays, each a median line
    over seeds with its min–max band; the y range leaves out the first evaluation (the
    untrained model). None for other tasks."""
    rows = sorted(
        (r for r in rep.rows.values() if r.per_corpus and r.track != "replay"),
        key=lambda r: row_order(r.track, r.method),
    )
    if not rows:
        return None
    corpora = list(dict.fromkeys(c for r in rows for pc in r.per_corpus for c in pc["corpora"]))
    starts = [p["start"] for p in rows[0].per_corpus[0]["phases"][1:]]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(corpora), figsize=(4.2 * len(corpora), 3.6), squeeze=False)
    handles = []
    for ax, corpus in zip(axes[0], corpora, strict=True):
        shown: list[np.ndarray] = []  # band values after the first evaluation: the y range
        for row in rows:
            curves = [
                (pc["eval_step"], [math.nan if v is None else v for v in pc["val"][corpus]])
                for pc in row.per_corpus
                if corpus in pc["val"]
            ]
            band = seed_band(curves)
            line = _draw(ax, band, row.method, styles[row.method])
            if ax is axes[0, 0] and line is not None:
                handles.append(line)
            if band is not None:
                shown += [band.lo[1:], band.hi[1:]]
        y = np.concatenate(shown) if shown else np.array([])
        y = y[np.isfinite(y)]
        if y.size:  # the untrained model's ~8 bits at step 0 would flatten everything else
            pad = 0.05 * max(float(y.max() - y.min()), 1e-3)
            ax.set_ylim(float(y.min()) - pad, float(y.max()) + pad)
        for start in starts:
            ax.axvline(start, color="black", ls=":", lw=1)
        ax.set_title(corpus, fontsize=9)
        ax.set_xlabel("steps (dotted: a switch of corpus)")
        ax.set_ylabel("validation bits per byte")
        ax.grid(alpha=0.3)
    fig.legend(
        handles,
        [h.get_label() for h in handles],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=4,
        fontsize=8,
    )
    fig.suptitle(f"{rep.task}: each corpus, median over seeds (line), {BAND} (band)", fontsize=10)
    fig.tight_layout()
    return fig


def profiles_figure(
    ratios: Mapping[str, Mapping[str, float]], styles: Mapping[str, Style], r_max: float
) -> Any:
    """rho(tau): the fraction of tasks a method reaches within tau times the best steps,
    one line per method in its style; methods in the style map's order (controllers
    first), their markers staggered so that lines that coincide stay told apart."""
    plt = pyplot()
    taus = np.linspace(1.0, r_max, 301)
    fig, ax = plt.subplots(figsize=(7, 4))
    methods = [m for m in styles if m in ratios]
    every = taus.size // MARKS
    for k, method in enumerate(methods):
        ax.step(
            taus,
            profile(ratios[method], taus),
            where="post",
            label=method,
            lw=1.4,
            ms=5,
            markevery=(k * every // len(methods), every),
            **styles[method].kwargs(),
        )
    ax.set_xlabel("τ (steps to target / best method's)")
    ax.set_ylabel("fraction of tasks, ρ(τ)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Performance profiles (AlgoPerf)")
    ax.grid(alpha=0.3)
    if ratios:  # no finished method: an empty plot, and no empty legend to warn about
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
