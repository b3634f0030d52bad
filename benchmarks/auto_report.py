r"""`auto` with the initial LR off by 10x, from one results store.

The store holds two suites: ``cpu`` (configs/bench/cpu.yaml: every task at its default LR,
the tuned baselines, the untuned default ``cosine-default``, ``auto`` and the other
controllers) and ``cpu-lr`` (configs/bench/cpu-lr.yaml: ``auto`` and ``cosine-default`` on
each task at 0.1x and 10x its default LR, as tasks ``T-x0.1`` and ``T-x10``)::

    autolr bench configs/bench/cpu.yaml --workers 2 --out bench/cpu
    autolr bench configs/bench/cpu-lr.yaml --workers 2 --store bench/cpu/results.db \
        --out bench/cpu-lr
    python -m benchmarks.auto_report --store bench/cpu/results.db --out bench/cpu-lr/auto.md

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

Only the runs each suite file plans now are read (``autolr.bench.harness.suite_plan``, as
``autolr bench`` reports them): runs of a method's earlier settings left in the store are
not mixed in.

Not here: the wall-time overhead beyond the charged steps. Wall times of runs made
concurrently on a shared machine do not measure it; ``benchmarks/overhead.py
--controllers`` times it inside each run.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autolr.bench.analysis import Row, TaskReport, analyse
from autolr.bench.harness import load_suite, suite_plan
from autolr.bench.standings import Comparison, best_tuned, compare
from autolr.bench.store import ResultsStore
from autolr.bench.store_location import store_url
from autolr.bench.tables import difference, fmt, markdown_table

SUITE = "cpu"  # the tasks at their default LR (x1), the tuned baselines
LR_SUITE = "cpu-lr"  # the tasks at x0.1 and x10, as tasks T-x0.1 and T-x10
AUTO = "auto"
DEFAULT = "cosine-default"  # the untuned default: cosine at the task's (initial) LR
MULTS = ("x0.1", "x1", "x10")
_OFF = re.compile(r"^(?P<task>.+)-(?P<mult>x0\.1|x10)$")


def reports(
    store: ResultsStore, suite: str, plan: Mapping[str, str] | None = None
) -> dict[str, TaskReport]:
    """``analyse(store, suite, plan)`` by task; empty when the store holds no run of
    ``suite``."""
    if suite not in store.suites():
        return {}
    try:
        return {rep.task: rep for rep in analyse(store, suite, plan)}
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
    store: ResultsStore,
    suite: str = SUITE,
    lr_suite: str = LR_SUITE,
    plans: Mapping[str, Mapping[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """One dict per task (base names, sorted): ``task``, ``metric``, ``mode``, ``tuned`` (the
    best tuned baseline's ``cell``), and per multiplier of ``MULTS``: ``auto[m]`` and
    ``default[m]`` (``cell``s), ``vs_tuned[m]`` and ``vs_default[m]`` (auto − reference, a
    ``standings.Comparison``). None wherever a suite, task or method is missing. ``plans``:
    per suite name, the runs to read (``harness.suite_plan``; a suite without one: all)."""
    plans = plans or {}
    at: dict[str, dict[str, TaskReport]] = {}
    for task, rep in reports(store, suite, plans.get(suite)).items():
        at.setdefault(task, {})["x1"] = rep
    for task, rep in reports(store, lr_suite, plans.get(lr_suite)).items():
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


def _mean(c: dict[str, Any] | None, label: bool = False) -> str:
    """``0.93 ± 0.012``, with ``(2/3 finite)`` when some finals were not finite and
    ``(1/3 diverged)`` when runs diverged; the method's label first with ``label``."""
    if c is None:
        return "–"
    if not c["finite"]:  # every cell failed, or every final was not finite
        return "failed" if not c["runs"] else f"– (0/{c['runs']} finite)"
    text = fmt(c["mean"]) + (f" ± {fmt(c['ci'], 2)}" if math.isfinite(c["ci"]) else "")
    if c["finite"] < c["runs"]:
        text += f" ({c['finite']}/{c['runs']} finite)"
    if c["diverged"]:  # a diverged run may still end on a finite (huge) final
        text += f" ({c['diverged']}/{c['runs']} diverged)"
    return f"{c['method']} {text}" if label else text


def _vs(c: Comparison | None) -> str:
    return "–" if c is None else difference(c)


def _count(c: dict[str, Any] | None, key: str) -> str:
    if c is None or c[key] is None:
        return "–"
    return fmt(c[key]) if key == "rollbacks" else f"{c[key]}/{c['runs']}"


def _table(head: list[str], rows: list[list[str]], none: str) -> str:
    """``markdown_table``, or the sentence ``none`` when there are no rows."""
    return markdown_table(head, rows) if rows else none


def render(lr_rows: list[dict[str, Any]], suite: str = SUITE, lr_suite: str = LR_SUITE) -> str:
    """The tables as markdown: the finals, and auto's standings per multiplier."""
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
    return "\n\n".join(
        [
            "## auto with the initial LR off by 10x",
            "Final metric (test, else validation), mean ± 95% CI over the evaluation seeds, "
            f"at x0.1, x1 and x10 of the task's default LR (x1: suite {suite}; x0.1 and x10: "
            f"suite {lr_suite}). The best tuned baseline is suite {suite}'s, at every "
            "multiplier: tuning does not depend on the initial LR. –: not in the store.",
            _table(head, finals, f"No run of suite {suite} or {lr_suite} in the store."),
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
        ]
    )


def plans_of(store: ResultsStore, paths: Sequence[str | Path]) -> dict[str, dict[str, str]]:
    """Per suite name, the runs each suite file plans now (``harness.suite_plan``)."""
    plans = {}
    for path in paths:
        suite = load_suite(path)
        plans[suite.name] = suite_plan(suite, store)
    return plans


def emit(text: str, out: Path | None) -> None:
    """Print a report, and write it to ``out`` too when given."""
    print(text)
    if out is not None:
        out.write_text(text + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument(
        "--store",
        default="bench/cpu/results.db",
        help="the results store holding suites cpu and cpu-lr (a .db file or a URL)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    p.add_argument(
        "--suites",
        nargs="*",
        default=["configs/bench/cpu.yaml", "configs/bench/cpu-lr.yaml"],
        help="the suite files whose current plans to read (none: every stored run); two "
        "files: the first is the suite at x1 (default cpu), the second the suite at x0.1 and "
        "x10 (default cpu-lr), e.g. configs/bench/cpu-fresh.yaml configs/bench/cpu-fresh-lr.yaml",
    )
    args = p.parse_args(argv)
    store = ResultsStore(store_url(args.store, Path(".")), create=False)
    try:
        plans = plans_of(store, args.suites)
        # two suite files: the first holds the tasks at x1, the second at x0.1 and x10
        names = dict(zip(("suite", "lr_suite"), plans, strict=False)) if len(plans) == 2 else {}
        text = render(initial_lr_table(store, plans=plans, **names), **names)
    finally:
        store.close()
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
