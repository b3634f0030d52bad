"""Loss curves to fit a law on: from run folders, a results store, or arrays.

A ``Curve`` is one run's LR and train loss per kept step (``metrics.csv``'s ``lr`` and
``train_loss``; row j is step j + 1). The fit compares the law with **window means**: the
train loss is noisy, so each run's steps after the first ``skip`` fraction are cut into
windows of ``window`` steps, and a window's mean loss is compared with the law at the
window's middle step. Windows that hold a non-finite loss are left out.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REQUIRED = ("step", "lr", "train_loss")
POINTS_PER_RUN = 100  # the default window gives about this many points per run


class FitError(ValueError):
    """A law could not be fitted; the message says why."""


@dataclass(frozen=True)
class Curve:
    """One run: ``lrs[j]`` and ``losses[j]`` at step j + 1 (a NaN loss is allowed)."""

    lrs: np.ndarray
    losses: np.ndarray
    source: str = "arrays"

    def __post_init__(self) -> None:
        lrs = np.array(self.lrs, dtype=np.float64).ravel()  # a copy: the store's are read-only
        losses = np.array(self.losses, dtype=np.float64).ravel()
        where = self.source
        if lrs.size != losses.size:
            raise FitError(f"{where}: {lrs.size} LRs but {losses.size} losses")
        if lrs.size == 0:
            raise FitError(f"{where}: no steps")
        if not np.all(np.isfinite(lrs)) or np.any(lrs < 0):
            j = int(np.flatnonzero(~np.isfinite(lrs) | (lrs < 0))[0])
            bad = float(lrs[j])
            raise FitError(f"{where}: the LR at step {j + 1} is {bad!r}; LRs must be >= 0")
        if not np.any(lrs > 0):
            raise FitError(f"{where}: every LR is 0")
        finite = losses[np.isfinite(losses)]
        if np.any(finite <= 0):
            raise FitError(f"{where}: losses must be > 0 (the law is fitted on log loss)")
        object.__setattr__(self, "lrs", lrs)
        object.__setattr__(self, "losses", losses)

    def __len__(self) -> int:
        return int(self.lrs.size)

    def points(
        self, window: int | None = None, skip: float = 0.05
    ) -> tuple[np.ndarray, np.ndarray]:
        """The 0-based rows (window middles) and window-mean losses the fit compares."""
        n = len(self)
        w = default_window(n) if window is None else int(window)
        first = math.ceil(skip * n)
        rows, means = [], []
        for start in range(first, n - w + 1, w):
            chunk = self.losses[start : start + w]
            if np.all(np.isfinite(chunk)):
                rows.append(start + (w - 1) // 2)
                means.append(float(chunk.mean()))
        return np.array(rows, dtype=np.int64), np.array(means)


def default_window(steps: int) -> int:
    return max(1, steps // POINTS_PER_RUN)


def read_run(path: str | Path) -> Curve:
    """A run folder's ``metrics.csv`` (or that file itself) as a Curve.

    Rows without an LR (the evaluation at step 0) are skipped; the steps must then be
    1, 2, ..., n, since the law sums the LR of every step.
    """
    path = Path(path)
    file = path / "metrics.csv" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no metrics.csv at {path}")
    with open(file, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise FitError(
                f"{file}: missing column {missing[0]!r} (a metrics.csv has columns "
                f"{', '.join(REQUIRED)}, ...; found {reader.fieldnames})"
            )
        steps, lrs, losses = [], [], []
        for line, row in enumerate(reader, start=2):
            if not (row["lr"] or "").strip():
                continue
            try:
                steps.append(int(row["step"]))
                lrs.append(float(row["lr"]))
                loss = (row["train_loss"] or "").strip()
                losses.append(float(loss) if loss else math.nan)
            except ValueError as err:
                raise FitError(f"{file}, line {line}: {err}") from None
    if not steps:
        raise FitError(f"{file}: no rows with an LR")
    expected = np.arange(1, len(steps) + 1)
    if not np.array_equal(np.array(steps), expected):
        j = int(np.flatnonzero(np.array(steps) != expected)[0])
        raise FitError(
            f"{file}: the steps must be 1, 2, ..., n (every step's LR counts), "
            f"got step {steps[j]} at row {j + 1}"
        )
    return Curve(np.array(lrs), np.array(losses), str(path))


def store_url(store: str) -> str:
    """A results store given as a database URL, a SQLite file, or an ``autolr bench``
    folder (its results.db), as a SQLAlchemy URL."""
    from autolr.bench.store_location import store_url as bench_store_url

    if Path(store).is_dir():
        return bench_store_url(None, Path(store))
    return bench_store_url(store, Path("."))


def from_store(
    store: str,
    task: str,
    *,
    suite: str | None = None,
    methods: Sequence[str] = (),
    tracks: Sequence[str] = (),
    peaks: Sequence[float] = (),
) -> list[Curve]:
    """The finished runs of ``task`` in a results store (``autolr bench``'s database: a URL,
    a SQLite file or a bench folder), as Curves; ``methods``, ``tracks`` and ``peaks``
    filter (empty: all). Runs that ended on a divergence (a tuning grid's top peaks) are
    left out: their blown-up losses are not the law's regime, and their LRs would set the
    default peak of ``optimize``."""
    from autolr.bench.store import ResultsStore

    store = ResultsStore(store_url(store), create=False)
    try:
        cells = [c for c in store.done_cells(suite) if c["task"] == task]
        if not cells:
            raise FitError(f"no finished runs of task {task!r} in {store.shown}" + _suite(suite))
        chosen = [
            c
            for c in cells
            if (not methods or c["method"] in methods)
            and (not tracks or c["track"] in tracks)
            and (not peaks or any(_same(c["peak_lr"], p) for p in peaks))
            and "diverged" not in (c["summary"].get("halted") or "")
        ]
        if not chosen:
            have = sorted({f"{c['method']} ({c['track']})" for c in cells})
            raise FitError(
                f"no run of task {task!r} matches the filters; it has: {', '.join(have)}"
            )
        out = []
        for c in sorted(chosen, key=lambda c: (c["method"], c["track"], c["seed"], c["key"])):
            arrays = store.curves(c["key"])
            peak = "" if c["peak_lr"] is None else f" peak {c['peak_lr']:g}"
            source = f"{c['suite']}/{task}/{c['method']}/{c['track']} seed {c['seed']}{peak}"
            out.append(Curve(arrays["lr"], arrays["train_loss"], source))
        return out
    finally:
        store.close()


def _suite(suite: str | None) -> str:
    return f" (suite {suite!r})" if suite else ""


def _same(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9)


def as_curves(runs: Any) -> list[Curve]:
    """Runs given as run folders, metrics.csv paths, Curves or ``(lrs, losses)`` pairs."""
    if isinstance(runs, str | Path | Curve) or (
        isinstance(runs, tuple) and len(runs) == 2 and np.ndim(runs[0]) == 1
    ):
        runs = [runs]
    if not isinstance(runs, Iterable):
        raise FitError(f"runs must be a list of run folders or (lrs, losses) pairs, got {runs!r}")
    out = []
    for i, run in enumerate(runs):
        if isinstance(run, Curve):
            out.append(run)
        elif isinstance(run, str | Path):
            out.append(read_run(run))
        elif isinstance(run, Sequence) and len(run) == 2:
            out.append(Curve(run[0], run[1], f"runs[{i}]"))
        else:
            raise FitError(f"runs[{i}] must be a run folder or an (lrs, losses) pair, got {run!r}")
    if not out:
        raise FitError("no runs to fit")
    return out
