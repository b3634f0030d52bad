r"""`auto` with the initial LR off by 10x, and its wall-time overhead, from one results store.

The store holds two suites: ``cpu`` (configs/bench/cpu.yaml: every task at its default LR,
the tuned baselines, the untuned default ``cosine-default``, ``auto`` and the other
controllers) and ``cpu-lr`` (configs/bench/cpu-lr.yaml: ``auto`` and ``cosine-default`` on
each task at 0.1x and 10x its default LR, as tasks ``T-x0.1`` and ``T-x10``)::

    autolr bench configs/bench/cpu.yaml --workers 2 --out bench/cpu
    autolr bench configs/bench/cpu-lr.yaml --workers 2 --store bench/cpu/results.db \
        --out bench/cpu-lr
    python benchmarks/auto_report.py --store bench/cpu/results.db --out bench/cpu-lr/auto.md

**The initial-LR table.** Per task: the best tuned baseline of suite ``cpu``
(``standings.best_tuned``: the one its target came from, chosen on the tuning seeds; tuning
does not depend on the initial LR a user guesses, so it is the reference at every
multiplier), and ``auto`` and ``cosine-default`` at x0.1, x1 (suite ``cpu``) and x10, each
its final metric (test, else validation), mean ± 95% CI over the evaluation seeds. For each
of auto's columns, its difference from the best tuned baseline and from ``cosine-default``
at the same multiplier: auto − reference, ± its 95% CI (Welch), and the word for it in the
task's direction (better, worse, tied; ``standings.verdict``), with auto's divergences,
collapses and rollbacks (summed over seeds) there. A suite, task or method not in the store
shows "–".

**Wall-time overhead.** Per task of suite ``cpu``: ``auto``'s median wall time over the
evaluation seeds divided by ``cosine-default``'s median on the same task and seeds, and the
same ratio for ``autolrs`` and ``optuna`` rows when the suite has them. Every run is charged
the same budget of optimizer steps: the default's are all training steps, auto's include its
probes and rolled-back steps. At an equal cost per step the two walls would be equal, so the
ratio minus 1 is what auto spends beyond its charged steps: its own compute, the snapshots
and restores around its probes and rollbacks, any evaluation a probe asks for. Caveats:
the wall times are of runs that ran concurrently (``--workers``) on a shared machine, so
each is noisy, and the medians over (three) seeds damp that only so far; evaluations come every
``eval_every`` kept steps, so a method whose probes take steps from training evaluates a
little less often than the default (a slight under-estimate); a run that diverged and
stopped early is short (the seeds column says how many did).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autolr.bench.analysis import Row, TaskReport, analyse
from autolr.bench.standings import Comparison, best_tuned, compare
from autolr.bench.store import ResultsStore
from autolr.bench.store_location import store_url
from autolr.bench.tables import _difference, _fmt, markdown_table

SUITE = "cpu"  # the tasks at their default LR (x1), the tuned baselines
LR_SUITE = "cpu-lr"  # the tasks at x0.1 and x10, as tasks T-x0.1 and T-x10
AUTO = "auto"
DEFAULT = "cosine-default"  # the untuned default: cosine at the task's (initial) LR
MULTS = ("x0.1", "x1", "x10")
OVERHEAD_METHODS = ("auto", "autolrs", "optuna")  # and their labelled variants (autolrs-fast)
_OFF = re.compile(r"^(?P<task>.+)-(?P<mult>x0\.1|x10)$")


def reports(store: ResultsStore, suite: str) -> dict[str, TaskReport]:
    """``analyse(store, suite)`` by task; empty when the store holds no run of ``suite``."""
    if suite not in store.suites():
        return {}
    try:
        return {rep.task: rep for rep in analyse(store, suite)}
    except ValueError:  # its cells are all pending: no finished or failed run yet
        return {}


def base_task(task: str) -> tuple[str, str]:
    """``("nqm", "x10")`` for a task of the LR suite named ``nqm-x10``; ``(task, "x1")``."""
    m = _OFF.match(task)
    return (m["task"], m["mult"]) if m else (task, "x1")


def cell(row: Row | None) -> dict[str, Any] | None:
    """A method's numbers on one task: mean ± 95% CI of its finals, runs, finite finals,
    failed cells, divergences, collapses (None: not judged), rollbacks summed over seeds."""
    if row is None:
        return None
    mean, ci = row.mean_ci
    return {
        "method": row.method,
        "mean": mean,
        "ci": ci,
        "runs": len(row.finals),
        "finite": row.n_finite,
        "failed": row.failed,
        "diverged": row.diverged,
        "collapsed": row.collapsed,
        "rollbacks": float(sum(row.rollbacks)),
    }


def initial_lr_table(
    store: ResultsStore, suite: str = SUITE, lr_suite: str = LR_SUITE
) -> list[dict[str, Any]]:
    """One dict per task (base names, sorted): ``task``, ``metric``, ``mode``, ``tuned`` (the
    best tuned baseline's ``cell``), and per multiplier of ``MULTS``: ``auto[m]`` and
    ``default[m]`` (``cell``s), ``vs_tuned[m]`` and ``vs_default[m]`` (auto − reference, a
    ``standings.Comparison``). None wherever a suite, task or method is missing."""
    at: dict[str, dict[str, TaskReport]] = {}
    for task, rep in reports(store, suite).items():
        at.setdefault(task, {})["x1"] = rep
    for task, rep in reports(store, lr_suite).items():
        base, mult = base_task(task)
        if mult != "x1":  # a task of the LR suite without a multiplier has no column
            at.setdefault(base, {})[mult] = rep
    out = []
    for task in sorted(at):
        reps = at[task]
        any_rep = next(iter(reps.values()))
        tuned = best_tuned(reps["x1"]) if "x1" in reps else None
        entry: dict[str, Any] = {
            "task": task,
            "metric": any_rep.metric,
            "mode": any_rep.mode,
            "tuned": cell(tuned),
        }
        for key in ("auto", "default", "vs_tuned", "vs_default"):
            entry[key] = dict.fromkeys(MULTS)
        for mult, rep in reps.items():
            auto, default = rep.rows.get(AUTO), rep.rows.get(DEFAULT)
            entry["auto"][mult], entry["default"][mult] = cell(auto), cell(default)
            if auto is not None:
                for key, ref, name in (
                    ("vs_tuned", tuned, "tuned"),
                    ("vs_default", default, "default"),
                ):
                    entry[key][mult] = compare(rep, auto, ref, name) if ref is not None else None
        out.append(entry)
    return out


def median_walls(row: Row, seeds: Iterable[int]) -> float:
    """The median of ``row``'s wall times on ``seeds``; NaN without one."""
    keep = set(seeds)
    walls = [w for s, w in zip(row.seeds, row.walls, strict=True) if s in keep]
    return float(np.median(walls)) if walls else math.nan


def overhead_table(
    store: ResultsStore,
    suite: str = SUITE,
    methods: Sequence[str] = OVERHEAD_METHODS,
    default: str = DEFAULT,
) -> list[dict[str, Any]]:
    """Per task of ``suite`` and self-tuning row named in ``methods`` (or labelled
    ``NAME-...``): ``wall`` and ``default_wall``, the medians of its and ``default``'s wall
    times over the ``seeds`` both ran, their ``ratio`` and ``overhead`` (ratio − 1),
    ``probes`` (median probe steps) and ``diverged`` (runs of either on those seeds that
    diverged, from the rows' counts)."""
    out = []
    for task, rep in sorted(reports(store, suite).items()):
        ref = rep.rows.get(default)
        for row in sorted(rep.rows.values(), key=lambda r: r.method):
            named = any(row.method == m or row.method.startswith(f"{m}-") for m in methods)
            if row.track != "self" or not named:
                continue
            seeds = sorted(set(row.seeds) & set(ref.seeds)) if ref is not None else []
            wall = median_walls(row, seeds)
            base = median_walls(ref, seeds) if ref is not None else math.nan
            ratio = wall / base if base > 0 else math.nan
            probes = [p for s, p in zip(row.seeds, row.probes, strict=True) if s in seeds]
            out.append(
                {
                    "task": task,
                    "method": row.method,
                    "seeds": seeds,
                    "wall": wall,
                    "default_wall": base,
                    "ratio": ratio,
                    "overhead": ratio - 1,
                    "probes": float(np.median(probes)) if probes else math.nan,
                    "diverged": row.diverged + (ref.diverged if ref is not None else 0),
                }
            )
    return out


def _mean(c: dict[str, Any] | None, label: bool = False) -> str:
    """``0.93 ± 0.012``, with ``(2/3 finite)`` when some finals were not finite and
    ``(1/3 diverged)`` when runs diverged; the method's label first with ``label``."""
    if c is None:
        return "–"
    if not c["finite"]:  # every cell failed, or every final was not finite
        return "failed" if not c["runs"] else f"– (0/{c['runs']} finite)"
    text = _fmt(c["mean"]) + (f" ± {_fmt(c['ci'], 2)}" if math.isfinite(c["ci"]) else "")
    if c["finite"] < c["runs"]:
        text += f" ({c['finite']}/{c['runs']} finite)"
    if c["diverged"]:  # a diverged run may still end on a finite (huge) final
        text += f" ({c['diverged']}/{c['runs']} diverged)"
    return f"{c['method']} {text}" if label else text


def _vs(c: Comparison | None) -> str:
    return "–" if c is None else _difference(c)


def _count(c: dict[str, Any] | None, key: str) -> str:
    if c is None or c[key] is None:
        return "–"
    return _fmt(c[key]) if key == "rollbacks" else f"{c[key]}/{c['runs']}"


def _table(head: list[str], rows: list[list[str]], none: str) -> str:
    """``markdown_table``, or the sentence ``none`` when there are no rows."""
    return markdown_table(head, rows) if rows else none


def render(lr_rows: list[dict[str, Any]], overhead_rows: list[dict[str, Any]]) -> str:
    """Both tables as markdown: the finals, auto's standings per multiplier, the overhead."""
    head = ["task", "final", "best tuned baseline"]
    head += [f"auto {m}" for m in MULTS] + [f"{DEFAULT} {m}" for m in MULTS]
    finals = [
        [
            e["task"],
            f"{e['metric']} ({'lower' if e['mode'] == 'min' else 'higher'} is better)",
            _mean(e["tuned"], label=True),
            *(_mean(e["auto"][m]) for m in MULTS),
            *(_mean(e["default"][m]) for m in MULTS),
        ]
        for e in lr_rows
    ]
    standing = [
        [
            e["task"],
            m,
            _vs(e["vs_tuned"][m]),
            _vs(e["vs_default"][m]),
            _count(e["auto"][m], "diverged"),
            _count(e["auto"][m], "collapsed"),
            _count(e["auto"][m], "rollbacks"),
        ]
        for e in lr_rows
        for m in MULTS
    ]
    overhead = [
        [
            o["task"],
            o["method"],
            f"{len(o['seeds'])}" + (f" ({o['diverged']} diverged)" if o["diverged"] else ""),
            _fmt(o["wall"], 3),
            _fmt(o["default_wall"], 3),
            _fmt(o["ratio"], 3),
            f"{o['overhead']:+.1%}" if math.isfinite(o["overhead"]) else "–",
            _fmt(o["probes"]),
        ]
        for o in overhead_rows
    ]
    return "\n\n".join(
        [
            "## auto with the initial LR off by 10x",
            "Final metric (test, else validation), mean ± 95% CI over the evaluation seeds, "
            f"at x0.1, x1 and x10 of the task's default LR (x1: suite {SUITE}; x0.1 and x10: "
            f"suite {LR_SUITE}). The best tuned baseline is suite {SUITE}'s, at every "
            "multiplier: tuning does not depend on the initial LR. –: not in the store.",
            _table(head, finals, f"No run of suite {SUITE} or {LR_SUITE} in the store."),
            f"auto − reference, ± its 95% CI (Welch), and the verdict in the task's direction; "
            f"the untuned default ({DEFAULT}) at the same initial LR. auto's divergences and "
            "collapses (runs) and rollbacks (summed over seeds).",
            _table(
                [
                    "task",
                    "initial LR",
                    "auto − best tuned",
                    f"auto − {DEFAULT}",
                    "diverged",
                    "collapsed",
                    "rollbacks",
                ],
                standing,
                "–",
            ),
            "## Wall-time overhead",
            f"Median wall time over the seeds both ran (suite {SUITE}, x1), against "
            f"{DEFAULT}'s: both charge the same budget of steps, probes included, so ratio − 1 "
            "is the time spent beyond the charged steps. Runs ran concurrently on a shared "
            "machine: noisy.",
            _table(
                [
                    "task",
                    "method",
                    "seeds",
                    "median wall (s)",
                    f"{DEFAULT} median wall (s)",
                    "ratio",
                    "overhead",
                    "median probe steps",
                ],
                overhead,
                f"No {', '.join(OVERHEAD_METHODS)} run of suite {SUITE} in the store.",
            ),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument(
        "--store",
        default="bench/cpu/results.db",
        help="the results store holding suites cpu and cpu-lr (a .db file or a URL)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = p.parse_args(argv)
    store = ResultsStore(store_url(args.store, Path(".")), create=False)
    try:
        text = render(initial_lr_table(store), overhead_table(store))
    finally:
        store.close()
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
